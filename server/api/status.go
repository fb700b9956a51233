package api

// Status is the body of every error answer from the API, and the object of
// a watch ERROR event. It is shaped like Kubernetes' meta/v1 Status.
type Status struct {
	TypeMeta `json:",inline"`
	Status   string `json:"status"` // "Failure"
	Message  string `json:"message"`
	// Reason is machine-readable: NotFound, AlreadyExists, Conflict,
	// Invalid, BadRequest, Unauthorized, Forbidden, Expired,
	// RequestEntityTooLarge, ServiceUnavailable, InternalError.
	Reason  string         `json:"reason"`
	Code    int            `json:"code"`
	Details *StatusDetails `json:"details,omitempty"`
}

// StatusDetails names the object an error is about and, for Invalid, every
// field that is wrong.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
}

// StatusCause is one field problem.
type StatusCause struct {
	Reason  string `json:"reason"` // a FieldErrorType
	Message string `json:"message"`
	Field   string `json:"field"`
}
