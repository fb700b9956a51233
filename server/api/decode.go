package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// maxDepth caps the nesting of decoded input.
const maxDepth = 100

// Decode strictly decodes one object of any kind from JSON: the kind comes
// from its `kind` and `apiVersion`. Every unknown field, duplicate key and
// wrongly typed value is reported with its path, together, as FieldErrors
// (class errdefs.ErrInvalid); malformed JSON is errdefs.ErrBadRequest.
func Decode(data []byte) (Object, error) {
	tree, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	top, ok := tree.(*jsonObject)
	if !ok {
		return nil, fmt.Errorf("an object must be a JSON object, not %s: %w", jsonTypeName(tree), errdefs.ErrBadRequest)
	}
	kind, _ := top.get("kind").(string)
	apiVersion, _ := top.get("apiVersion").(string)
	if kind == "" {
		return nil, FieldErrors{Required("kind", "every object names its kind, e.g. kind: Deployment")}
	}
	k, ok := LookupKind(kind)
	if !ok {
		var names []string
		for _, k := range Kinds() {
			names = append(names, k.Kind)
		}
		return nil, FieldErrors{NotSupported("kind", kind, names...)}
	}
	if apiVersion != k.APIVersion {
		if apiVersion == "" {
			return nil, FieldErrors{Required("apiVersion", fmt.Sprintf("%s is %s", k.Kind, k.APIVersion))}
		}
		return nil, FieldErrors{Invalid("apiVersion", apiVersion, fmt.Sprintf("%s is %s", k.Kind, k.APIVersion))}
	}
	obj := k.New()
	if err := decodeTree(data, tree, obj); err != nil {
		var fes FieldErrors
		if errors.As(err, &fes) && UnknownOnly(fes) {
			return obj, err // filled but for the unknown fields
		}
		return nil, err
	}
	return obj, nil
}

// Decode also returns the object, filled from its known fields, when the
// only problems are unknown fields.

// DecodeInto strictly decodes JSON into obj, as Decode does, without
// looking at the kind. It sets obj's apiVersion and kind from its type
// when the input has none.
func DecodeInto(data []byte, obj Object) error {
	tree, err := parseJSON(data)
	if err != nil {
		return err
	}
	if _, ok := tree.(*jsonObject); !ok {
		return fmt.Errorf("an object must be a JSON object, not %s: %w", jsonTypeName(tree), errdefs.ErrBadRequest)
	}
	if err := decodeTree(data, tree, obj); err != nil {
		return err
	}
	if tm := obj.GetTypeMeta(); tm.Kind == "" && tm.APIVersion == "" {
		SetTypeMeta(obj)
	}
	return nil
}

// decodeTree checks tree against obj's type and then decodes data. When
// the only problems are unknown fields, obj is still filled from the known
// ones (see UnknownOnly), so a caller can validate it and report every
// problem at once.
func decodeTree(data []byte, tree any, obj any) error {
	var errs FieldErrors
	check(tree, reflect.TypeOf(obj), "", &errs)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		if UnknownOnly(errs) {
			if err := json.Unmarshal(data, obj); err != nil {
				errs = append(errs, &FieldError{Type: FieldInvalid, Field: "<root>", Detail: err.Error()})
			}
		}
		return errs
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return FieldErrors{{Type: FieldInvalid, Field: "<root>", Detail: err.Error()}}
	}
	return nil
}

// UnknownOnly reports whether every error in errs is an unknown field: the
// decoded object is then complete but for those fields.
func UnknownOnly(errs FieldErrors) bool {
	for _, e := range errs {
		if e.Type != FieldUnknown {
			return false
		}
	}
	return len(errs) > 0
}

// jsonObject keeps an object's members in input order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func (o *jsonObject) get(k string) any { return o.vals[k] }

// MarshalJSON lets a subtree be re-encoded for a type's own UnmarshalJSON.
func (o *jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseJSON reads data into a tree of *jsonObject, []any, string,
// json.Number, bool and nil, rejecting duplicate keys, trailing data and
// nesting deeper than maxDepth.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, data, 0, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, syntaxError(data, dec.InputOffset(), "unexpected data after the object")
	}
	return v, nil
}

func syntaxError(data []byte, off int64, msg string) error {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Errorf("malformed JSON at line %d, column %d: %s: %w", line, col, msg, errdefs.ErrBadRequest)
}

func parseValue(dec *json.Decoder, data []byte, depth int, path string) (any, error) {
	if depth > maxDepth {
		return nil, syntaxError(data, dec.InputOffset(), fmt.Sprintf("nested deeper than %d levels", maxDepth))
	}
	tok, err := dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, syntaxError(data, se.Offset, se.Error())
		}
		if err == io.EOF {
			return nil, syntaxError(data, int64(len(data)), "unexpected end of input")
		}
		return nil, syntaxError(data, dec.InputOffset(), err.Error())
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := &jsonObject{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(data, dec.InputOffset(), err.Error())
				}
				k, _ := kt.(string)
				child := childPath(path, k)
				if _, dup := obj.vals[k]; dup {
					return nil, fmt.Errorf("%s: duplicate field in the input: %w", child, errdefs.ErrBadRequest)
				}
				v, err := parseValue(dec, data, depth+1, child)
				if err != nil {
					return nil, err
				}
				obj.keys = append(obj.keys, k)
				obj.vals[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(data, dec.InputOffset(), err.Error())
			}
			return obj, nil
		case '[':
			arr := []any{}
			for i := 0; dec.More(); i++ {
				v, err := parseValue(dec, data, depth+1, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(data, dec.InputOffset(), err.Error())
			}
			return arr, nil
		}
		return nil, syntaxError(data, dec.InputOffset(), "unexpected "+t.String())
	default:
		return t, nil
	}
}

func childPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case *jsonObject:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a value"
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// check walks v against type t, recording every problem at its path.
func check(v any, t reflect.Type, path string, errs *FieldErrors) {
	for t.Kind() == reflect.Pointer {
		if v == nil {
			return
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, _ := json.Marshal(v)
		target := reflect.New(t).Interface().(json.Unmarshaler)
		if err := target.UnmarshalJSON(raw); err != nil {
			*errs = append(*errs, Invalid(pathOrRoot(path), shortValue(v), err.Error()))
		}
		return
	}
	bad := func(want string) {
		*errs = append(*errs, Invalid(pathOrRoot(path), shortValue(v), "must be "+want))
	}
	switch t.Kind() {
	case reflect.Interface:
		return
	case reflect.Struct:
		obj, ok := v.(*jsonObject)
		if !ok {
			if v != nil {
				bad("an object")
			}
			return
		}
		fields := structFields(t)
		for _, k := range obj.keys {
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, Unknown(childPath(path, k)))
				continue
			}
			check(obj.vals[k], f, childPath(path, k), errs)
		}
	case reflect.Map:
		obj, ok := v.(*jsonObject)
		if !ok {
			if v != nil {
				bad("an object")
			}
			return
		}
		for _, k := range obj.keys {
			check(obj.vals[k], t.Elem(), fmt.Sprintf("%s[%s]", path, k), errs)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := v.(string)
			if !ok && v != nil {
				bad("a base64-encoded string")
			} else if _, err := base64.StdEncoding.DecodeString(s); ok && err != nil {
				bad("base64-encoded")
			}
			return
		}
		arr, ok := v.([]any)
		if !ok {
			if v != nil {
				bad("a list")
			}
			return
		}
		for i, e := range arr {
			check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok && v != nil {
			bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok && v != nil {
			bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			if v != nil {
				bad("an integer")
			}
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || i < -(1<<(t.Bits()-1)) || i > 1<<(t.Bits()-1)-1 {
			bad(fmt.Sprintf("an integer that fits in %d bits", t.Bits()))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			if v != nil {
				bad("a non-negative integer")
			}
			return
		}
		if i, err := strconv.ParseUint(string(n), 10, 64); err != nil || i > math.MaxUint64>>(64-t.Bits()) {
			bad("a non-negative integer")
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok && v != nil {
			bad("a number")
		}
	}
}

func pathOrRoot(p string) string {
	if p == "" {
		return "<root>"
	}
	return p
}

// shortValue renders a bad value for a message, cut to a sensible length.
func shortValue(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > 64 {
			return x[:64] + "…"
		}
		return x
	case json.Number:
		return string(x)
	case *jsonObject:
		return "{…}"
	case []any:
		return "[…]"
	}
	return v
}

// structFields maps the JSON names of t's fields to their types, with the
// fields of embedded untagged (or ",inline") structs inlined.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}
