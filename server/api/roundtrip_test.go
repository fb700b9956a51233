package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

// fillAll sets every field reachable from v to a non-zero value: one element
// in each list and map, a set pointer for each optional field.
func fillAll(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[Quantity]():
		v.Set(reflect.ValueOf(mustQuantity(t, "1500m")))
		return
	case reflect.TypeFor[IntOrString]():
		v.Set(reflect.ValueOf(FromString("25%")))
		return
	case reflect.TypeFor[Time]():
		v.Set(reflect.ValueOf(NewTime(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))))
		return
	case reflect.TypeFor[json.RawMessage](): // raw JSON must be JSON
		v.Set(reflect.ValueOf(json.RawMessage(`{"spec":{"template":{}}}`)))
		return
	}
	if depth > 30 {
		t.Fatalf("type %s nests too deep: a cycle?", v.Type())
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(t, v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("bytes\x00\xff"))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillAll(t, s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		k.SetString("some.key")
		e := reflect.New(v.Type().Elem()).Elem()
		fillAll(t, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("text")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	default:
		t.Fatalf("fill: unexpected kind %s of %s", v.Kind(), v.Type())
	}
}

func TestRoundTripAllKinds(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.Kind, func(t *testing.T) {
			obj := k.New()
			fillAll(t, reflect.ValueOf(obj).Elem(), 0)
			b, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back := k.New()
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(back); err != nil {
				t.Fatalf("unmarshal: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(obj, back) {
				again, _ := json.Marshal(back)
				t.Errorf("round trip changed the object:\nbefore %s\nafter  %s", b, again)
			}
			// An empty object prints without clutter.
			empty, err := json.Marshal(k.New())
			if err != nil {
				t.Fatalf("marshal empty: %v", err)
			}
			if got := string(empty); got != `{"metadata":{}}` {
				t.Errorf("empty %s = %s, want {\"metadata\":{}}", k.Kind, got)
			}
		})
	}
}

// TestJSONFieldNames checks every field of every kind has a JSON name in
// lowerCamelCase (or is inlined), and that no two fields of one object
// share a name, so Kubernetes manifests map onto the types.
func TestJSONFieldNames(t *testing.T) {
	marshaler := reflect.TypeFor[json.Marshaler]()
	seen := map[reflect.Type]bool{}
	var visit func(tp reflect.Type)
	// fields lists the JSON names of st, inlined fields included.
	var fields func(st reflect.Type, names map[string]string)
	fields = func(st reflect.Type, names map[string]string) {
		for i := range st.NumField() {
			f := st.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			switch {
			case f.Anonymous && name == "":
				if tag != ",inline" {
					t.Errorf("%s.%s: embedded without `json:\",inline\"`", st, f.Name)
				}
				fields(f.Type, names)
				continue
			case tag == "":
				t.Errorf("%s.%s: no json tag", st, f.Name)
				continue
			case name == "-":
				continue
			case !unicode.IsLower(rune(name[0])) && !strings.HasPrefix(name, "..."):
				t.Errorf("%s.%s: json name %q is not lowerCamelCase", st, f.Name, name)
			}
			if other, dup := names[name]; dup {
				t.Errorf("%s: json name %q used by both %s and %s", st, name, other, f.Name)
			}
			names[name] = f.Name
			visit(f.Type)
		}
	}
	visit = func(tp reflect.Type) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Map {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] || tp.Implements(marshaler) || reflect.PointerTo(tp).Implements(marshaler) {
			return
		}
		seen[tp] = true
		fields(tp, map[string]string{})
	}
	for _, k := range Kinds() {
		visit(reflect.TypeOf(k.New()))
	}
	if len(seen) < 100 {
		t.Errorf("visited %d types, want the whole object model", len(seen))
	}
}

// Plain Kubernetes manifests, as `kubectl apply` would send them (in
// JSON), decode strictly, default and validate.
var kubernetesManifests = []string{
	`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
	 "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
	  "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":"10%"}},
	  "template":{"metadata":{"labels":{"app":"web"},"annotations":{"prometheus.io/scrape":"true"}},
	   "spec":{
	    "initContainers":[{"name":"migrate","image":"web:1.2","command":["./migrate"],"envFrom":[{"secretRef":{"name":"db"}}]}],
	    "containers":[{"name":"web","image":"web:1.2","args":["--port=8080"],"workingDir":"/app",
	     "ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],
	     "env":[{"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},
	            {"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password","optional":false}}},
	            {"name":"MODE","valueFrom":{"configMapKeyRef":{"name":"web","key":"mode"}}}],
	     "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":1,"memory":"256Mi","ephemeral-storage":"1Gi"}},
	     "volumeMounts":[{"name":"cache","mountPath":"/cache"},{"name":"config","mountPath":"/etc/web","readOnly":true},{"name":"tls","mountPath":"/tls","subPath":"certs"}],
	     "startupProbe":{"httpGet":{"path":"/healthz","port":"http"},"failureThreshold":30,"periodSeconds":2},
	     "livenessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP","httpHeaders":[{"name":"X-Probe","value":"1"}]},"initialDelaySeconds":5,"timeoutSeconds":2},
	     "readinessProbe":{"exec":{"command":["cat","/tmp/ready"]}},
	     "lifecycle":{"preStop":{"exec":{"command":["sleep","5"]}},"postStart":{"tcpSocket":{"port":8080}}},
	     "imagePullPolicy":"IfNotPresent",
	     "securityContext":{"runAsNonRoot":true,"runAsUser":1000,"runAsGroup":1000,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,"privileged":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}],
	    "volumes":[{"name":"cache","emptyDir":{"medium":"Memory","sizeLimit":"64Mi"}},
	               {"name":"config","configMap":{"name":"web","items":[{"key":"web.conf","path":"web.conf","mode":420}],"defaultMode":420}},
	               {"name":"tls","secret":{"secretName":"web-tls","optional":true}},
	               {"name":"host","hostPath":{"path":"/var/log","type":"Directory"}},
	               {"name":"data","persistentVolumeClaim":{"claimName":"web-data","readOnly":true}}],
	    "restartPolicy":"Always","terminationGracePeriodSeconds":60,"dnsPolicy":"ClusterFirst",
	    "nodeSelector":{"kubernetes.io/arch":"arm64"},
	    "securityContext":{"fsGroup":2000,"supplementalGroups":[3000],"runAsNonRoot":true},
	    "imagePullSecrets":[{"name":"registry"}],
	    "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]}]}]},
	                                "preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[{"key":"disk","operator":"Exists"}]}}]},
	                "podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}]},
	                "podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"cache"}},"namespaces":["default"],"topologyKey":"topology.kubernetes.io/zone"}}]}},
	    "tolerations":[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":60}],
	    "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}},"minDomains":2}],
	    "priorityClassName":"high","hostname":"web","subdomain":"web"}}}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},
	 "spec":{"type":"NodePort","selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http","nodePort":30080,"appProtocol":"http"},{"name":"https","port":443,"targetPort":8443,"protocol":"TCP"}],
	  "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},"externalIPs":["192.168.1.50"]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"db","namespace":"default"},
	 "spec":{"clusterIP":"None","selector":{"app":"db"},"ports":[{"port":5432}],"publishNotReadyAddresses":true}}`,
	`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"default"},
	 "spec":{"serviceName":"db","replicas":3,"podManagementPolicy":"Parallel","selector":{"matchLabels":{"app":"db"}},
	  "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}},
	  "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"postgres","image":"postgres:17","ports":[{"containerPort":5432,"name":"pg"}],
	   "volumeMounts":[{"name":"data","mountPath":"/var/lib/postgresql/data"}]}]}},
	  "volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"storageClassName":"local-path","resources":{"requests":{"storage":"10Gi"}}}}]}}`,
	`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"logs","namespace":"kube-system"},
	 "spec":{"selector":{"matchLabels":{"name":"logs"}},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"20%"}},
	  "template":{"metadata":{"labels":{"name":"logs"}},"spec":{"hostNetwork":true,"dnsPolicy":"ClusterFirstWithHostNet",
	   "tolerations":[{"operator":"Exists"}],"containers":[{"name":"logs","image":"fluent-bit:3","ports":[{"containerPort":2020,"hostPort":2020}],
	   "volumeMounts":[{"name":"varlog","mountPath":"/var/log"}]}],"volumes":[{"name":"varlog","hostPath":{"path":"/var/log"}}]}}}}`,
	`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","namespace":"default"},
	 "spec":{"backoffLimit":4,"completions":5,"parallelism":2,"completionMode":"Indexed","activeDeadlineSeconds":600,"ttlSecondsAfterFinished":100,
	  "template":{"spec":{"containers":[{"name":"pi","image":"perl:5.34","command":["perl","-Mbignum=bpi","-wle","print bpi(2000)"]}],"restartPolicy":"Never"}}}}`,
	`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"hello","namespace":"default"},
	 "spec":{"schedule":"*/5 * * * *","timeZone":"Etc/UTC","concurrencyPolicy":"Forbid","startingDeadlineSeconds":60,"successfulJobsHistoryLimit":1,"suspend":false,
	  "jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"hello","image":"busybox:1.36","command":["/bin/sh","-c","date; echo Hello"]}],"restartPolicy":"OnFailure"}}}}}}`,
	`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"default"},"type":"Opaque","data":{"password":"c2VjcmV0"},"stringData":{"user":"admin"}}`,
	`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"registry","namespace":"default"},"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"e30="}}`,
	`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"default"},"immutable":true,"data":{"mode":"prod","web.conf":"listen 8080;"},"binaryData":{"logo.png":"iVBORw0KGgo="}}`,
	`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a","labels":{"team":"a"}}}`,
	`{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"high-priority"},"value":1000000,"globalDefault":false,
	 "description":"This priority class should be used for XYZ service pods only.","preemptionPolicy":"Never"}`,
	`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"debug","namespace":"default"},
	 "spec":{"containers":[{"name":"sh","image":"busybox","stdin":true,"tty":true,"lifecycle":{"preStop":{"sleep":{"seconds":2}}}}],"restartPolicy":"Never","activeDeadlineSeconds":3600,"priority":10}}`,
}

func TestKubernetesManifests(t *testing.T) {
	for _, m := range kubernetesManifests {
		var tm TypeMeta
		if err := json.Unmarshal([]byte(m), &tm); err != nil {
			t.Fatalf("manifest does not parse: %v\n%s", err, m)
		}
		t.Run(tm.Kind, func(t *testing.T) {
			obj, err := Decode([]byte(m)) // strict: unknown fields are errors
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			Default(obj)
			if errs := Validate(obj); len(errs) > 0 {
				t.Errorf("Validate = %v, want no errors", errs)
			}
		})
	}
}
