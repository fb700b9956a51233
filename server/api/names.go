package api

import (
	"fmt"
	"regexp"
	"strings"
)

// The name rules are Kubernetes': each Is* function returns descriptions of
// what is wrong with s, or nil when s is fine.

const (
	dns1123LabelMax     = 63
	dns1123SubdomainMax = 253
	qualifiedNameMax    = 63
	labelValueMax       = 63
	annotationsMax      = 256 << 10
)

var (
	dns1123LabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	qualifiedNameRE    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValueRE       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	cIdentifierRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// IsDNS1123Label checks a DNS label: lower-case alphanumerics and '-', at
// most 63 characters, starting and ending alphanumeric.
func IsDNS1123Label(s string) []string {
	var errs []string
	if len(s) > dns1123LabelMax {
		errs = append(errs, fmt.Sprintf("must be no more than %d characters", dns1123LabelMax))
	}
	if !dns1123LabelRE.MatchString(s) {
		errs = append(errs, "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc')")
	}
	return errs
}

// IsDNS1123Subdomain checks a DNS subdomain: DNS labels joined by '.', at
// most 253 characters.
func IsDNS1123Subdomain(s string) []string {
	var errs []string
	if len(s) > dns1123SubdomainMax {
		errs = append(errs, fmt.Sprintf("must be no more than %d characters", dns1123SubdomainMax))
	}
	if !dns1123SubdomainRE.MatchString(s) {
		errs = append(errs, "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')")
	}
	return errs
}

// IsQualifiedName checks a label or annotation key: an optional DNS
// subdomain prefix and '/', then a name of at most 63 characters.
func IsQualifiedName(s string) []string {
	var errs []string
	name := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		prefix := s[:i]
		name = s[i+1:]
		if prefix == "" {
			errs = append(errs, "prefix part must be non-empty")
		} else {
			for _, e := range IsDNS1123Subdomain(prefix) {
				errs = append(errs, "prefix part "+e)
			}
		}
		if strings.Contains(name, "/") {
			return append(errs, "a qualified name must have at most one '/'")
		}
	}
	switch {
	case name == "":
		errs = append(errs, "name part must be non-empty")
	case len(name) > qualifiedNameMax:
		errs = append(errs, fmt.Sprintf("name part must be no more than %d characters", qualifiedNameMax))
	}
	if name != "" && !qualifiedNameRE.MatchString(name) {
		errs = append(errs, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or 'example.com/my-name')")
	}
	return errs
}

// IsValidLabelValue checks a label value: empty, or at most 63
// alphanumerics, '-', '_' and '.', starting and ending alphanumeric.
func IsValidLabelValue(s string) []string {
	var errs []string
	if len(s) > labelValueMax {
		errs = append(errs, fmt.Sprintf("must be no more than %d characters", labelValueMax))
	}
	if !labelValueRE.MatchString(s) {
		errs = append(errs, "a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
	}
	return errs
}

// IsCIdentifier checks an environment variable name as C would.
func IsCIdentifier(s string) []string {
	if !cIdentifierRE.MatchString(s) {
		return []string{"must consist of alphanumeric characters or '_', and must not start with a digit (e.g. 'MY_NAME')"}
	}
	return nil
}

// ValidateLabels checks every label key and value.
func ValidateLabels(labels map[string]string, path string) FieldErrors {
	var errs FieldErrors
	for _, k := range sortedKeys(labels) {
		for _, msg := range IsQualifiedName(k) {
			errs = append(errs, Invalid(fmt.Sprintf("%s[%s]", path, k), k, "key "+msg))
		}
		for _, msg := range IsValidLabelValue(labels[k]) {
			errs = append(errs, Invalid(fmt.Sprintf("%s[%s]", path, k), labels[k], msg))
		}
	}
	return errs
}

// ValidateAnnotations checks annotation keys and their total size.
func ValidateAnnotations(ann map[string]string, path string) FieldErrors {
	var errs FieldErrors
	total := 0
	for _, k := range sortedKeys(ann) {
		total += len(k) + len(ann[k])
		for _, msg := range IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, Invalid(fmt.Sprintf("%s[%s]", path, k), k, "key "+msg))
		}
	}
	if total > annotationsMax {
		errs = append(errs, TooLong(path, annotationsMax))
	}
	return errs
}
