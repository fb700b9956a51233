package api

import (
	"slices"
	"strings"
	"testing"
)

func TestCapabilityCanonical(t *testing.T) {
	tests := []struct {
		in     Capability
		want   string
		wantOK bool
	}{
		{"NET_ADMIN", "CAP_NET_ADMIN", true},
		{"CAP_NET_ADMIN", "CAP_NET_ADMIN", true},
		{"net_bind_service", "CAP_NET_BIND_SERVICE", true},
		{"Cap_Chown", "CAP_CHOWN", true},
		{"CHECKPOINT_RESTORE", "CAP_CHECKPOINT_RESTORE", true},
		{"ALL", "ALL", true},
		{"all", "ALL", true},
		{"CAP_ALL", "", false},
		{"NET_ADMINS", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := tt.in.Canonical()
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Capability(%q).Canonical() = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
	if len(knownCapabilities) != 41 {
		t.Errorf("%d known capabilities, want 41 (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40)", len(knownCapabilities))
	}
}

// TestPrivilegeRequests: privileged, and any added capability outside
// the Pod Security Standards' baseline set (ALL included), is what only
// an admin may ask for, named by its field; baseline ones and drops are
// not.
func TestPrivilegeRequests(t *testing.T) {
	yes, no := true, false
	with := func(sc *SecurityContext) PodSpec {
		return PodSpec{Containers: []Container{{Name: "a"}, {Name: "b", SecurityContext: sc}}}
	}
	caps := func(add ...Capability) *SecurityContext {
		return &SecurityContext{Capabilities: &Capabilities{Add: add, Drop: []Capability{"ALL"}}}
	}
	const b = "containers[1].securityContext"
	tests := []struct {
		name string
		spec PodSpec
		want []PrivilegeRequest
	}{
		{"plain", with(nil), nil},
		{"privileged false", with(&SecurityContext{Privileged: &no}), nil},
		{"privileged", with(&SecurityContext{Privileged: &yes}), []PrivilegeRequest{{b + ".privileged", "b", "privileged"}}},
		{"adds baseline ones", with(caps("NET_BIND_SERVICE", "cap_chown", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP")), nil},
		{"adds SYS_MODULE", with(caps("SYS_MODULE")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "SYS_MODULE"}}},
		{"adds DAC_READ_SEARCH", with(caps("CHOWN", "CAP_DAC_READ_SEARCH")), []PrivilegeRequest{{b + ".capabilities.add[1]", "b", "DAC_READ_SEARCH"}}},
		{"adds NET_ADMIN", with(caps("NET_ADMIN")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "NET_ADMIN"}}},
		{"adds cap_sys_admin", with(caps("cap_sys_admin")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "SYS_ADMIN"}}},
		{"adds ALL", with(caps("all")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "ALL"}}},
		// In the default set, but not in the baseline's add list.
		{"adds NET_RAW", with(caps("NET_RAW")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "NET_RAW"}}},
		{"adds no capability", with(caps("NOPE")), []PrivilegeRequest{{b + ".capabilities.add[0]", "b", "NOPE"}}},
		{"drops SYS_ADMIN", with(&SecurityContext{Capabilities: &Capabilities{Drop: []Capability{"SYS_ADMIN", "ALL"}}}), nil},
		{"privileged and BPF", with(&SecurityContext{Privileged: &yes, Capabilities: &Capabilities{Add: []Capability{"KILL", "BPF"}}}),
			[]PrivilegeRequest{{b + ".privileged", "b", "privileged"}, {b + ".capabilities.add[1]", "b", "BPF"}}},
		{"init container privileged", PodSpec{InitContainers: []Container{{Name: "i", SecurityContext: &SecurityContext{Privileged: &yes}}}, Containers: []Container{{Name: "a"}}},
			[]PrivilegeRequest{{"initContainers[0].securityContext.privileged", "i", "privileged"}}},
	}
	for _, tt := range tests {
		if got := tt.spec.PrivilegeRequests(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: PrivilegeRequests() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestInBaseline(t *testing.T) {
	for _, c := range baselineCapabilities {
		if _, ok := Capability(c).Canonical(); !ok {
			t.Errorf("baseline capability %s is not a known one", c)
		}
	}
	tests := []struct {
		in   Capability
		want bool
	}{
		{"CHOWN", true}, {"cap_net_bind_service", true}, {"SETPCAP", true}, {"MKNOD", true},
		{"SYS_MODULE", false}, {"DAC_READ_SEARCH", false}, {"SYS_RAWIO", false}, {"BPF", false},
		{"PERFMON", false}, {"SYS_PTRACE", false}, {"SYS_TIME", false}, {"MAC_ADMIN", false},
		{"SYS_BOOT", false}, {"NET_ADMIN", false}, {"SYS_ADMIN", false}, {"NET_RAW", false},
		{"ALL", false}, {"all", false}, {"", false}, {"NOPE", false},
	}
	for _, tt := range tests {
		if got := tt.in.InBaseline(); got != tt.want {
			t.Errorf("Capability(%q).InBaseline() = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEscalationAllowed(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		sc   *SecurityContext
		want bool
	}{
		{"nil", nil, false},
		{"unset", &SecurityContext{}, false},
		{"true", &SecurityContext{AllowPrivilegeEscalation: &yes}, true},
		{"false", &SecurityContext{AllowPrivilegeEscalation: &no}, false},
		{"privileged", &SecurityContext{Privileged: &yes}, true},
		{"SYS_ADMIN", &SecurityContext{Capabilities: &Capabilities{Add: []Capability{"SYS_ADMIN"}}}, true},
	}
	for _, tt := range tests {
		if got := tt.sc.EscalationAllowed(); got != tt.want {
			t.Errorf("%s: EscalationAllowed() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDecodeSecurityContext: the Kubernetes fields skiff does not
// support (seccompProfile, procMount, …) are errors that name them, and
// a manifest with the supported ones validates.
func TestDecodeSecurityContext(t *testing.T) {
	in := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
	  "securityContext":{"runAsUser":1000,"runAsGroup":1000,"runAsNonRoot":true,"supplementalGroups":[5],"fsGroup":2000,"sysctls":[]},
	  "containers":[{"name":"a","image":"x","securityContext":{"privileged":false,"allowPrivilegeEscalation":false,
	    "readOnlyRootFilesystem":true,"runAsUser":1001,"runAsGroup":1001,"runAsNonRoot":true,
	    "capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]},"seccompProfile":{"type":"RuntimeDefault"}}}]}}`
	_, err := Decode([]byte(in))
	got := fieldsOf(t, err)
	want := map[string]FieldErrorType{
		"spec.securityContext.sysctls":                      FieldUnknown,
		"spec.containers[0].securityContext.seccompProfile": FieldUnknown,
	}
	if len(got) != len(want) || got["spec.securityContext.sysctls"] != FieldUnknown || got["spec.containers[0].securityContext.seccompProfile"] != FieldUnknown {
		t.Errorf("decode errors %v, want %v", got, want)
	}
	in = strings.NewReplacer(`,"sysctls":[]`, "", `,"seccompProfile":{"type":"RuntimeDefault"}`, "").Replace(in)
	obj, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if errs := Validate(obj); len(errs) > 0 {
		t.Errorf("Validate = %v, want no errors", errs)
	}
}
