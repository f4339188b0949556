// Package api holds the LXD 1.0 wire types that lodged and its clients share.
// JSON tags follow LXD's exactly so that LXD's own client can drive lodged.
package api

import (
	"encoding/json"
	"time"
)

// ResponseType is the "type" field of the response envelope.
type ResponseType string

const (
	SyncResponse  ResponseType = "sync"
	AsyncResponse ResponseType = "async"
	ErrorResponse ResponseType = "error"
)

// StatusCode is LXD's numeric status for operations and instances.
type StatusCode int

const (
	OperationCreated StatusCode = 100
	Started          StatusCode = 101
	Stopped          StatusCode = 102
	Running          StatusCode = 103
	Cancelling       StatusCode = 104
	Pending          StatusCode = 105
	Starting         StatusCode = 106
	Stopping         StatusCode = 107
	Aborting         StatusCode = 108
	Freezing         StatusCode = 109
	Frozen           StatusCode = 110
	Thawed           StatusCode = 111
	Error            StatusCode = 112
	Ready            StatusCode = 113
	Success          StatusCode = 200
	Failure          StatusCode = 400
	Cancelled        StatusCode = 401
)

var statusNames = map[StatusCode]string{
	OperationCreated: "Operation created",
	Started:          "Started",
	Stopped:          "Stopped",
	Running:          "Running",
	Cancelling:       "Cancelling",
	Pending:          "Pending",
	Starting:         "Starting",
	Stopping:         "Stopping",
	Aborting:         "Aborting",
	Freezing:         "Freezing",
	Frozen:           "Frozen",
	Thawed:           "Thawed",
	Error:            "Error",
	Ready:            "Ready",
	Success:          "Success",
	Failure:          "Failure",
	Cancelled:        "Cancelled",
}

// String returns LXD's name for the code ("Running", "Success", ...).
func (s StatusCode) String() string { return statusNames[s] }

// IsFinal reports whether an operation with this status has ended.
func (s StatusCode) IsFinal() bool { return int(s) >= 200 }

// Response is the envelope around every non-raw reply.
type Response struct {
	Type       ResponseType    `json:"type"`
	Status     string          `json:"status"`
	StatusCode int             `json:"status_code"`
	Operation  string          `json:"operation"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

// Operation is an async task, websocket or token operation.
type Operation struct {
	ID          string              `json:"id" yaml:"id"`
	Class       string              `json:"class" yaml:"class"`
	Description string              `json:"description" yaml:"description"`
	CreatedAt   time.Time           `json:"created_at" yaml:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at" yaml:"updated_at"`
	Status      string              `json:"status" yaml:"status"`
	StatusCode  StatusCode          `json:"status_code" yaml:"status_code"`
	Resources   map[string][]string `json:"resources" yaml:"resources"`
	Metadata    map[string]any      `json:"metadata" yaml:"metadata"`
	MayCancel   bool                `json:"may_cancel" yaml:"may_cancel"`
	Err         string              `json:"err" yaml:"err"`
	Location    string              `json:"location" yaml:"location"`
}

// Operation classes.
const (
	OperationClassTask      = "task"
	OperationClassWebsocket = "websocket"
	OperationClassToken     = "token"
)

// Event is one message on /1.0/events.
type Event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Metadata  json.RawMessage `json:"metadata"`
	Location  string          `json:"location,omitempty"`
	Project   string          `json:"project,omitempty"`
}

// EventLifecycle is the metadata of a "lifecycle" event.
type EventLifecycle struct {
	Action  string         `json:"action"`
	Source  string         `json:"source"`
	Context map[string]any `json:"context,omitempty"`
}

// EventLogging is the metadata of a "logging" event.
type EventLogging struct {
	Message string            `json:"message"`
	Level   string            `json:"level"`
	Context map[string]string `json:"context"`
}
