package audit

import "time"

// Entry is one line of the audit log: who did what to which object, when,
// from where, and whether it was allowed.
type Entry struct {
	// Time is when the request arrived; Record sets it to now when zero.
	Time time.Time `json:"time"`
	// User is the authenticated name ("" when the request carried no
	// credentials or wrong ones).
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// Via is how the user authenticated: certificate, token, session,
	// cookie, api-token.
	Via string `json:"via,omitempty"`
	// Session and Token identify the session or API token used (their ids,
	// never their secrets).
	Session string `json:"session,omitempty"`
	Token   string `json:"token,omitempty"`
	// Address is the client's IP address.
	Address string `json:"address"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	// Verb, Resource, Namespace and Name are the permission the request
	// asked for and the object it was about.
	Verb      string `json:"verb,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Code is the HTTP status of the answer.
	Code    int  `json:"code"`
	Allowed bool `json:"allowed"`
	// Reason says why a request was refused, or what an allowed one did
	// that the other fields do not show ("signed in").
	Reason string `json:"reason,omitempty"`
}

// DroppedUser is the User of the entry the log writes in place of
// entries it had to drop because its queue was full or a write failed;
// its Reason says how many ("dropped 12 entries: …").
const DroppedUser = "system:audit"
