package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/skiffhq/skiff/server/audit"
)

// auditPath is where the API server mounts the audit log's read API.
const auditPath = "/audit/v1/events"

// maxAuditAnswer bounds the answer read: audit.MaxLimit entries of a few
// hundred bytes each, with room to spare.
const maxAuditAnswer = 64 << 20

// Audit reads the newest audit log entries that match f, newest last.
func (h *HTTP) Audit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	resp, err := h.do(ctx, http.MethodGet, auditPath, f.Values(), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Items []audit.Entry `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAuditAnswer)).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode audit entries: %w", err)
	}
	return body.Items, nil
}
