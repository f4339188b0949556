//go:build linux && cgo

package lxc

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"time"

	"lodge/trace"
)

// helperTraceEnv asks a helper (forkstart, forkexecd: helper_c.c) for its
// timeline: it then prints one line at the end of each step, "lodge-trace
// UNIXNANO STEP", the first as it starts, so that the daemon's trace shows
// what the re-exec costs apart from liblxc's own work.
const helperTraceEnv = "LODGE_TRACE_HELPER"

const helperTracePrefix = "lodge-trace "

// traceHelper adds a helper's timeline from its output to tr (each step
// from the end of the one before, the first from forked), removes those
// lines from out and returns the end of the last step.
func traceHelper(tr *trace.Trace, helper string, forked time.Time, out *bytes.Buffer) time.Time {
	if tr == nil {
		return forked
	}
	var rest bytes.Buffer
	prev := forked
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		l := sc.Text()
		v, ok := strings.CutPrefix(l, helperTracePrefix)
		if !ok {
			rest.WriteString(l + "\n")
			continue
		}
		ns, step, _ := strings.Cut(v, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			continue
		}
		at := time.Unix(0, n)
		tr.Add(helper+": "+step, prev, at.Sub(prev))
		prev = at
	}
	*out = rest
	return prev
}
