package api

import (
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// This file holds the rules of the identity kinds: User, Role and
// RoleBinding. A rule a role cannot mean is refused when the role is
// written, not ignored when a request is checked: a typo in a verb or a
// resource would otherwise grant nothing and say nothing.

// ruleVerbs are the verbs a PolicyRule may name.
var ruleVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "push", "*"}

// ruleSubresources are the subresources a rule may name besides
// <resource>/status of the kinds with a status.
var ruleSubresources = []string{
	"pods/log",         // get: a container's log
	"pods/exec",        // create: a command in a container
	"pods/portforward", // create: a connection to a pod's port
	"pods/privileged",  // create, update: a pod (or template) that asks for privilege
	"builds/log",       // get: a build's log
}

// rulePseudoResources are the resources of APIs that serve no objects.
var rulePseudoResources = []string{
	"apitokens", // the caller's API tokens
	"sessions",  // sign-in sessions
	"audit",     // the audit log
}

// reservedGroupPrefix starts the groups the server gives its own parts
// (api.GroupAdmins, api.GroupNodes).
const reservedGroupPrefix = "skiff:"

// maxGroupName bounds a group's name, as a DNS subdomain is bounded.
const maxGroupName = 253

// isRuleResource reports whether r may appear in a rule's resources.
func isRuleResource(r string) bool {
	if r == "*" || slices.Contains(ruleSubresources, r) || slices.Contains(rulePseudoResources, r) {
		return true
	}
	base, sub, hasSub := strings.Cut(r, "/")
	for _, k := range kinds {
		if k.Resource != base {
			continue
		}
		return !hasSub || sub == "status" && k.HasStatus
	}
	return false
}

// ruleResourceHint says what a rule's resource may be, for an error.
func ruleResourceHint() string {
	var plain []string
	for _, k := range kinds {
		plain = append(plain, k.Resource)
	}
	return "must be a plural resource (" + strings.Join(plain, ", ") + "), <resource>/status for a kind with a status, one of " +
		strings.Join(ruleSubresources, ", ") + ", one of " + strings.Join(rulePseudoResources, ", ") + `, or "*"`
}

// groupNameProblems checks a group's name: any printable text without
// spaces ("team-a", "skiff:admins", "oidc:platform"), at most 253 bytes.
func groupNameProblems(s string) []string {
	var probs []string
	if len(s) > maxGroupName {
		probs = append(probs, "must be no more than 253 characters")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		probs = append(probs, "must not contain spaces or control characters")
	}
	return probs
}

// validateUser checks a User's spec.
func validateUser(u *User) FieldErrors {
	var errs FieldErrors
	s := &u.Spec
	if len(s.DisplayName) > 256 {
		errs = append(errs, TooLong("spec.displayName", 256))
	}
	if s.Email != "" {
		if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email || a.Name != "" {
			errs = append(errs, Invalid("spec.email", s.Email, "must be a plain address such as ada@example.com, without a display name or angle brackets"))
		}
	}
	errs = append(errs, validateGroupList(s.Groups, "spec.groups")...)
	for i, g := range s.Groups {
		// skiff:nodes in a User's groups would let the user act as a
		// node of the user's name.
		if strings.HasPrefix(g, reservedGroupPrefix) && g != GroupAdmins {
			errs = append(errs, Forbidden(pathIdx("spec.groups", i), "the groups starting with "+reservedGroupPrefix+" are the server's own; of them only "+GroupAdmins+" may be given to a user"))
		}
	}
	seen := map[UserIdentity]bool{}
	for i, id := range s.Identities {
		p := pathIdx("spec.identities", i)
		errs = checkIssuer(errs, p+".issuer", id.Issuer)
		if id.Subject == "" {
			errs = append(errs, Required(p+".subject", "the provider's subject (sub claim) of the account"))
		}
		if seen[id] {
			errs = append(errs, Duplicate(p, id.Issuer+" "+id.Subject))
		}
		seen[id] = true
	}
	return errs
}

// validateGroupList checks a list of group names: each well formed,
// none twice.
func validateGroupList(groups []string, p string) FieldErrors {
	var errs FieldErrors
	for i, g := range groups {
		gp := pathIdx(p, i)
		switch {
		case g == "":
			errs = append(errs, Required(gp, "a group name"))
		case slices.Contains(groups[:i], g):
			errs = append(errs, Duplicate(gp, g))
		default:
			errs = checkName(errs, gp, g, groupNameProblems)
		}
	}
	return errs
}

// checkIssuer appends an error unless s is an OpenID Connect issuer: an
// https URL, or http on the loopback host (a provider in a test).
func checkIssuer(errs FieldErrors, p, s string) FieldErrors {
	if s == "" {
		return append(errs, Required(p, "the provider's issuer URL, e.g. https://accounts.google.com"))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return append(errs, Invalid(p, s, "must be an issuer URL such as https://accounts.google.com, with no user, query or fragment"))
	case u.Scheme == "https":
		return errs
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return errs
	}
	return append(errs, Invalid(p, s, "must be an https URL (http only for a provider on 127.0.0.1, ::1 or localhost)"))
}

// isLoopbackHost reports whether host names the local machine.
func isLoopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// validateRole checks a Role's rules.
func validateRole(r *Role) FieldErrors {
	var errs FieldErrors
	if len(r.Description) > 1024 {
		errs = append(errs, TooLong("description", 1024))
	}
	for i, rule := range r.Rules {
		p := pathIdx("rules", i)
		if len(rule.Verbs) == 0 {
			errs = append(errs, Required(p+".verbs", `at least one of `+strings.Join(quoteAll(ruleVerbs), ", ")))
		}
		for j, v := range rule.Verbs {
			vp := pathIdx(p+".verbs", j)
			switch {
			case !slices.Contains(ruleVerbs, v):
				errs = append(errs, NotSupported(vp, v, ruleVerbs...))
			case slices.Contains(rule.Verbs[:j], v):
				errs = append(errs, Duplicate(vp, v))
			}
		}
		if len(rule.Resources) == 0 {
			errs = append(errs, Required(p+".resources", `plural resources such as "deployments", or "*"`))
		}
		for j, res := range rule.Resources {
			rp := pathIdx(p+".resources", j)
			switch {
			case res == "":
				errs = append(errs, Required(rp, ruleResourceHint()))
			case !isRuleResource(res):
				errs = append(errs, Invalid(rp, res, ruleResourceHint()))
			case slices.Contains(rule.Resources[:j], res):
				errs = append(errs, Duplicate(rp, res))
			}
		}
		for j, n := range rule.ResourceNames {
			np := pathIdx(p+".resourceNames", j)
			switch {
			case n == "":
				errs = append(errs, Required(np, "an object's name; leave resourceNames out to allow every name"))
			case strings.ContainsAny(n, "/ \t\n"):
				errs = append(errs, Invalid(np, n, "must be an object's name, without '/' or spaces"))
			}
		}
	}
	return errs
}

// validateRoleBinding checks a RoleBinding's role, subjects and
// namespaces.
func validateRoleBinding(b *RoleBinding) FieldErrors {
	var errs FieldErrors
	errs = requireName(errs, "role", b.Role, IsDNS1123Subdomain)
	if len(b.Subjects) == 0 {
		errs = append(errs, Required("subjects", `at least one {kind: User|Group, name: …} to grant the role to`))
	}
	for i, s := range b.Subjects {
		p := pathIdx("subjects", i)
		switch s.Kind {
		case SubjectUser:
			errs = requireName(errs, p+".name", s.Name, IsDNS1123Subdomain)
		case SubjectGroup:
			errs = requireName(errs, p+".name", s.Name, groupNameProblems)
		case "":
			errs = append(errs, Required(p+".kind", SubjectUser+" or "+SubjectGroup))
		default:
			errs = append(errs, NotSupported(p+".kind", s.Kind, SubjectUser, SubjectGroup))
		}
		if slices.Contains(b.Subjects[:i], s) {
			errs = append(errs, Duplicate(p, s.Kind+" "+s.Name))
		}
	}
	for i, ns := range b.Namespaces {
		p := pathIdx("namespaces", i)
		errs = requireName(errs, p, ns, IsDNS1123Label)
		if ns != "" && slices.Contains(b.Namespaces[:i], ns) {
			errs = append(errs, Duplicate(p, ns))
		}
	}
	return errs
}
