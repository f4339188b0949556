package daemon

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

// The instance list's query (GET /1.0/instances with filter=, search=,
// sort=, limit=, offset=; the extensions api_filtering and
// lodge_instances_query): which instances, in which order, which page.
// Filtering and sorting read the rows and, only when a clause or a sort
// key names the status, every status (Driver.Statuses); full state is
// read for the rows of the page alone.

// Bounds on a query, so that one request cannot make lodged parse or
// compare without end.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 16
	maxClauses     = 64
	maxSearchWords = 16
	maxSortKeys    = 8
	// MaxQueryLimit is the largest page (limit=).
	MaxQueryLimit = 1000
)

// QueryParams are a list query as the API receives it, unparsed.
type QueryParams struct {
	Filter, Search, Sort, Limit, Offset string
}

// Empty reports whether the params ask for nothing but the whole list.
func (p QueryParams) Empty() bool {
	return strings.TrimSpace(p.Filter) == "" && strings.TrimSpace(p.Search) == "" && p.Sort == "" && p.Limit == "" && p.Offset == ""
}

// InstanceQuery is a parsed list query; its zero value lists every
// instance by name.
type InstanceQuery struct {
	filter filterNode // nil: every instance
	search []string   // lower-case words, each in the name or description
	sort   []sortKey  // then by name
	offset int
	limit  int // 0: no limit
	// needs: what evaluating it reads beyond the row.
	needStatus, needExpanded bool
}

// Parse checks the params; a bad one is an errdefs.ErrInvalid error
// whose message starts with its name ("filter: unknown field ...").
func (p QueryParams) Parse() (InstanceQuery, error) {
	var q InstanceQuery
	var err error
	if q.filter, err = parseFilter(p.Filter); err != nil {
		return q, errdefs.Invalidf("filter: %v", err)
	}
	if len(p.Search) > maxFilterLen {
		return q, errdefs.Invalidf("search: longer than %d bytes", maxFilterLen)
	}
	q.search = strings.Fields(strings.ToLower(p.Search))
	if len(q.search) > maxSearchWords {
		return q, errdefs.Invalidf("search: %d words; at most %d", len(q.search), maxSearchWords)
	}
	if q.sort, err = parseSort(p.Sort); err != nil {
		return q, errdefs.Invalidf("sort: %v", err)
	}
	if p.Limit != "" {
		n, err := strconv.Atoi(p.Limit)
		if err != nil || n < 1 || n > MaxQueryLimit {
			return q, errdefs.Invalidf("limit: %q is not a whole number from 1 to %d (leave it out for every instance)", p.Limit, MaxQueryLimit)
		}
		q.limit = n
	}
	if p.Offset != "" {
		n, err := strconv.Atoi(p.Offset)
		if err != nil || n < 0 {
			return q, errdefs.Invalidf("offset: %q is not a whole number, 0 or more", p.Offset)
		}
		q.offset = n
	}
	walkFields(q.filter, func(f field) {
		q.needStatus = q.needStatus || f.kind == fieldStatus
		q.needExpanded = q.needExpanded || f.kind == fieldExpandedConfig || f.kind == fieldExpandedDevices
	})
	for _, k := range q.sort {
		q.needStatus = q.needStatus || k.field.kind == fieldStatus
		q.needExpanded = q.needExpanded || k.field.kind == fieldExpandedConfig
	}
	return q, nil
}

// ListDetail says how much of each instance of a page is read.
type ListDetail int

const (
	// DetailStatus: the row, its expanded config and devices, and its run
	// status (recursion 0 and 1).
	DetailStatus ListDetail = iota
	// DetailFull: as DetailStatus, with the full live state and the
	// snapshots (recursion 2).
	DetailFull
)

// QueryInstances answers a list query: the page of matching instances in
// order, and how many match in all.
func (d *Daemon) QueryInstances(ctx context.Context, q InstanceQuery, detail ListDetail) ([]Instance, int, error) {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, 0, err
	}
	expand := d.expander(ctx)
	page, total := q.run(list, d.db.Location(), expand, func() []string {
		names := make([]string, len(list))
		for i, st := range d.statuses(ctx, list) {
			names[i] = statusName(st)
		}
		return names
	})
	if detail == DetailStatus && q.needStatus {
		// Every status was read already.
		out := make([]Instance, len(page))
		for i, r := range page {
			out[i] = d.instanceInfo(r.in, expand(r.in), instances.State{Status: instances.Status(r.status)})
		}
		return out, total, nil
	}
	out := make([]db.Instance, len(page))
	for i, r := range page {
		out[i] = r.in
	}
	return d.instancesOf(ctx, out, expand, detail), total, nil
}

// run filters list (the instances of member location), sorts the matches
// and cuts the page; statuses, called only when the query needs them,
// gives each instance's status as statusName names it.
func (q InstanceQuery) run(list []db.Instance, location string, expand func(db.Instance) Expanded, statuses func() []string) ([]queryRow, int) {
	rows := make([]queryRow, len(list))
	for i, in := range list {
		rows[i] = queryRow{in: in, location: location, nameLower: strings.ToLower(in.Name), descLower: strings.ToLower(in.Description)}
	}
	if q.needExpanded {
		for i := range rows {
			x := expand(rows[i].in)
			rows[i].x = &x
		}
	}
	if q.needStatus {
		for i, st := range statuses() {
			rows[i].status = st
		}
	}
	matched := rows[:0]
	for _, r := range rows {
		if r.matches(q) {
			matched = append(matched, r)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return q.less(&matched[i], &matched[j]) })
	lo, hi := q.Window(len(matched))
	return matched[lo:hi], len(matched)
}

// Window is the page of a sorted list of n matches: [lo, hi).
func (q InstanceQuery) Window(n int) (lo, hi int) {
	lo = min(q.offset, n)
	hi = n
	if q.limit > 0 && hi-lo > q.limit {
		hi = lo + q.limit
	}
	return lo, hi
}

// Head is q for one member of a cluster: the same filter and order, and
// every match that can be in q's page once the members' lists are
// merged, i.e. the first offset+limit (all of them without a limit).
func (q InstanceQuery) Head() InstanceQuery {
	h := q
	h.offset = 0
	if q.limit > 0 {
		h.limit = q.offset + q.limit
	}
	return h
}

// HeadLimit is Head's limit as limit= gives it to another member: ""
// for every match (no limit, or more than a page may hold).
func (q InstanceQuery) HeadLimit() string {
	if n := q.Head().limit; n > 0 && n <= MaxQueryLimit {
		return strconv.Itoa(n)
	}
	return ""
}

// Compare orders two instances as the query sorts them (then by name),
// for the merge of the members' pages in a cluster.
func (q InstanceQuery) Compare(a, b *api.Instance) int {
	for _, k := range q.sort {
		if c := k.field.compareAPI(a, b); c != 0 {
			if k.desc {
				return -c
			}
			return c
		}
	}
	return strings.Compare(a.Name, b.Name)
}

// compareAPI is compare on instances as the API shows them.
func (f field) compareAPI(a, b *api.Instance) int {
	v := func(in *api.Instance) string {
		switch f.kind {
		case fieldName:
			return in.Name
		case fieldStatus:
			return strings.ToLower(in.Status)
		case fieldType:
			return in.Type
		case fieldDescription:
			return in.Description
		case fieldArchitecture:
			return in.Architecture
		case fieldLocation:
			return in.Location
		case fieldConfig:
			return in.Config[f.key]
		case fieldExpandedConfig:
			return in.ExpandedConfig[f.key]
		}
		return ""
	}
	switch f.kind {
	case fieldCreatedAt:
		return a.CreatedAt.Compare(b.CreatedAt)
	case fieldLastUsedAt:
		return a.LastUsedAt.Compare(b.LastUsedAt)
	}
	return strings.Compare(v(a), v(b))
}

// QueryUnreachable answers q (its Head) for a member that did not answer
// a list: its instances from the database, in Error state, as
// UnreachableInstances shows them; and how many match.
func (d *Daemon) QueryUnreachable(ctx context.Context, q InstanceQuery, member string) ([]Instance, int, error) {
	n, err := d.db.NodeByName(ctx, member)
	if err != nil {
		return nil, 0, err
	}
	list, err := d.db.ListInstancesOn(ctx, n.ID)
	if err != nil {
		return nil, 0, err
	}
	expand := d.expander(ctx)
	page, total := q.Head().run(list, member, expand, func() []string {
		names := make([]string, len(list))
		for i := range names {
			names[i] = string(instances.StatusError)
		}
		return names
	})
	out := make([]Instance, len(page))
	for i, r := range page {
		out[i] = d.instanceInfo(r.in, expand(r.in), instances.State{Status: instances.StatusError})
		out[i].Location = member
	}
	return out, total, nil
}

// instancesOf reads what the API shows of each of list: expanded config,
// status or full state, snapshots.
func (d *Daemon) instancesOf(ctx context.Context, list []db.Instance, expand func(db.Instance) Expanded, detail ListDetail) []Instance {
	out := make([]Instance, len(list))
	if detail == DetailFull {
		sts := d.states(ctx, list)
		for i, in := range list {
			out[i] = d.instanceInfo(in, expand(in), sts[i])
			if snaps, err := d.db.ListSnapshots(ctx, in.Name); err == nil {
				out[i].Snapshots = d.snapshotsOf(ctx, in, snaps, false)
			}
		}
		return out
	}
	for i, st := range d.statuses(ctx, list) {
		out[i] = d.instanceInfo(list[i], expand(list[i]), instances.State{Status: st})
	}
	return out
}

// statuses reads the run status of each of list at once: as states, but
// without resource and network reads.
func (d *Daemon) statuses(ctx context.Context, list []db.Instance) []instances.Status {
	names := make([]string, 0, len(list))
	for _, in := range list {
		if in.Phase == db.PhaseCreated {
			names = append(names, in.Name)
		}
	}
	got := d.inst.Statuses(ctx, names)
	out := make([]instances.Status, len(list))
	for i, in := range list {
		st, ok := got[in.Name]
		switch {
		case in.Phase != db.PhaseCreated:
			st = instances.StatusStopped
		case !ok:
			st = instances.StatusError
		}
		out[i] = st
	}
	return out
}

// statusName is the status as the API shows it (server.statusCode's
// names): what is not running, frozen, starting, stopping or in error is
// stopped.
func statusName(st instances.Status) string {
	switch st {
	case instances.StatusRunning, instances.StatusFrozen, instances.StatusStarting, instances.StatusStopping, instances.StatusError:
		return string(st)
	}
	return string(instances.StatusStopped)
}

// queryRow is an instance as a query reads it.
type queryRow struct {
	in                   db.Instance
	x                    *Expanded // when the query names expanded_*
	status               string    // when the query names the status
	location             string    // the member it is on ("none" standalone)
	nameLower, descLower string
}

func (r *queryRow) matches(q InstanceQuery) bool {
	for _, w := range q.search {
		if !strings.Contains(r.nameLower, w) && !strings.Contains(r.descLower, w) {
			return false
		}
	}
	return q.filter == nil || q.filter.match(r)
}

func (q InstanceQuery) less(a, b *queryRow) bool {
	for _, k := range q.sort {
		if c := k.field.compare(a, b); c != 0 {
			return (c < 0) != k.desc
		}
	}
	return a.in.Name < b.in.Name
}

// Fields: what a filter clause or a sort key names.

type fieldKind int

const (
	fieldName fieldKind = iota
	fieldStatus
	fieldType
	fieldDescription
	fieldArchitecture
	fieldLocation
	fieldProject
	fieldProfiles
	fieldCreatedAt
	fieldLastUsedAt
	fieldConfig          // config.KEY: the instance's own
	fieldExpandedConfig  // expanded_config.KEY: with its profiles'
	fieldDevices         // devices.DEVICE.KEY
	fieldExpandedDevices // expanded_devices.DEVICE.KEY
)

type field struct {
	kind     fieldKind
	key, dev string
}

var plainFields = map[string]fieldKind{
	"name": fieldName, "status": fieldStatus, "type": fieldType, "description": fieldDescription,
	"architecture": fieldArchitecture, "location": fieldLocation, "project": fieldProject,
	"profiles": fieldProfiles, "created_at": fieldCreatedAt, "last_used_at": fieldLastUsedAt,
}

const (
	filterFields = "name, status, type, description, architecture, location, project, profiles, config.KEY, expanded_config.KEY, devices.DEVICE.KEY, expanded_devices.DEVICE.KEY"
	sortFields   = "name, status, type, description, architecture, location, created_at, last_used_at, config.KEY, expanded_config.KEY"
)

// parseField reads a field name: for a filter, or forSort for a sort key
// (the times, and not what holds many values).
func parseField(s string, forSort bool) (field, bool) {
	if k, ok := plainFields[s]; ok {
		timed := k == fieldCreatedAt || k == fieldLastUsedAt
		many := k == fieldProfiles || k == fieldProject
		return field{kind: k}, forSort && !many || !forSort && !timed
	}
	if key, ok := strings.CutPrefix(s, "config."); ok && key != "" {
		return field{kind: fieldConfig, key: key}, true
	}
	if key, ok := strings.CutPrefix(s, "expanded_config."); ok && key != "" {
		return field{kind: fieldExpandedConfig, key: key}, true
	}
	if forSort {
		return field{}, false
	}
	for prefix, k := range map[string]fieldKind{"devices.": fieldDevices, "expanded_devices.": fieldExpandedDevices} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			if dev, key, ok := strings.Cut(rest, "."); ok && dev != "" && key != "" {
				return field{kind: k, dev: dev, key: key}, true
			}
		}
	}
	return field{}, false
}

// value is a field's value in r; ok is false where LXD's filter finds no
// string (a device the instance does not have), which no value equals.
func (f field) value(r *queryRow) (string, bool) {
	in := r.in
	switch f.kind {
	case fieldName:
		return in.Name, true
	case fieldStatus:
		return r.status, true
	case fieldType:
		return "container", true
	case fieldDescription:
		return in.Description, true
	case fieldArchitecture:
		return in.Architecture, true
	case fieldLocation:
		return r.location, true
	case fieldProject:
		return "default", true
	case fieldConfig:
		return in.Config[f.key], true
	case fieldExpandedConfig:
		return r.x.Config[f.key], true
	case fieldDevices:
		dev, ok := in.Devices[f.dev]
		return dev[f.key], ok
	case fieldExpandedDevices:
		dev, ok := expandedDevices(*r.x)[f.dev]
		return dev[f.key], ok
	}
	return "", false
}

func (f field) compare(a, b *queryRow) int {
	switch f.kind {
	case fieldCreatedAt:
		return a.in.CreatedAt.Compare(b.in.CreatedAt)
	case fieldLastUsedAt:
		return a.in.LastUsedAt.Compare(b.in.LastUsedAt)
	}
	x, _ := f.value(a)
	y, _ := f.value(b)
	return strings.Compare(x, y)
}

type sortKey struct {
	field field
	desc  bool
}

// parseSort reads KEY[,KEY...], each KEY possibly -KEY (descending).
func parseSort(s string) ([]sortKey, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxSortKeys {
		return nil, fmt.Errorf("%d keys; at most %d", len(parts), maxSortKeys)
	}
	var out []sortKey
	for _, p := range parts {
		p = strings.TrimSpace(p)
		desc := strings.HasPrefix(p, "-")
		name := strings.TrimPrefix(p, "-")
		if name == "" {
			return nil, fmt.Errorf("empty key in %q (keys: %s; -KEY sorts down)", s, sortFields)
		}
		f, ok := parseField(name, true)
		if !ok {
			return nil, fmt.Errorf("unknown key %q (keys: %s; -KEY sorts down)", name, sortFields)
		}
		out = append(out, sortKey{field: f, desc: desc})
	}
	return out, nil
}

// The filter: LXD 5.0's api_filtering grammar, `FIELD eq|ne VALUE`
// clauses, each possibly preceded by `not`, joined by `and` and `or`
// and read from left to right without precedence, as LXD reads them
// (`a or b and c` is `(a or b) and c`). A value is an anchored,
// case-insensitive regular expression (anchored unless it has ^ or $),
// or if it does not compile a case-insensitive string. A value with
// spaces is quoted ("two words"; spaces within are read as one, as LXD
// does). lodge adds parentheses around clauses (a value that ends a group
// and itself ends in ")" is quoted), membership for `profiles` (which
// LXD's filter cannot match), and refuses what LXD would silently match
// nothing with: an unknown field or operator.

type filterNode interface {
	match(r *queryRow) bool
}

type clause struct {
	field field
	ne    bool
	not   bool
	re    *regexp.Regexp // nil: compare with strings.EqualFold
	value string
}

func (c *clause) equal(v string) bool {
	if c.re != nil {
		return c.re.MatchString(v)
	}
	return strings.EqualFold(v, c.value)
}

func (c *clause) match(r *queryRow) bool {
	var m bool
	if c.field.kind == fieldProfiles {
		for _, p := range r.in.Profiles {
			if c.equal(p) {
				m = true
				break
			}
		}
	} else if v, ok := c.field.value(r); ok {
		m = c.equal(v)
	}
	return m != c.ne != c.not
}

type logical struct {
	or          bool
	left, right filterNode
}

func (l *logical) match(r *queryRow) bool {
	if l.or {
		return l.left.match(r) || l.right.match(r)
	}
	return l.left.match(r) && l.right.match(r)
}

type negated struct{ inner filterNode }

func (n negated) match(r *queryRow) bool { return !n.inner.match(r) }

// walkFields calls fn for each field a filter names.
func walkFields(n filterNode, fn func(field)) {
	switch n := n.(type) {
	case *clause:
		fn(n.field)
	case *logical:
		walkFields(n.left, fn)
		walkFields(n.right, fn)
	case negated:
		walkFields(n.inner, fn)
	}
}

// parseFilter parses a filter= value; blank is no filter (nil).
func parseFilter(s string) (filterNode, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("longer than %d bytes", maxFilterLen)
	}
	p := &filterParser{words: strings.Fields(s)}
	if len(p.words) == 0 {
		return nil, nil
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.words) {
		return nil, fmt.Errorf("unexpected %q after a complete filter", p.words[p.i])
	}
	return n, nil
}

type filterParser struct {
	words   []string // whitespace-split, as LXD splits
	i       int      // the next word
	depth   int      // open parentheses
	closing int      // ")" read, not yet matched to their groups
	clauses int
}

func (p *filterParser) expr() (filterNode, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.closing == 0 && p.i < len(p.words) {
		w := p.words[p.i]
		if p.depth > 0 && strings.Trim(w, ")") == "" {
			// ")" on its own, closing groups.
			if len(w) > p.depth {
				return nil, fmt.Errorf("%q closes more parentheses than are open", w)
			}
			p.closing += len(w)
			p.i++
			break
		}
		if w != "and" && w != "or" {
			return nil, fmt.Errorf("expected and or or after a clause, found %q", w)
		}
		p.i++
		if p.i == len(p.words) {
			return nil, fmt.Errorf("nothing after %q", w)
		}
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		left = &logical{or: w == "or", left: left, right: right}
	}
	return left, nil
}

// term is a clause or a group, possibly preceded by not.
func (p *filterParser) term() (filterNode, error) {
	not := false
	if strings.EqualFold(p.words[p.i], "not") {
		not = true
		p.i++
		if p.i == len(p.words) {
			return nil, errors.New("not without a clause after it")
		}
	}
	if w := p.words[p.i]; strings.HasPrefix(w, "(") {
		if w == "(" {
			p.i++
		} else {
			p.words[p.i] = w[1:]
		}
		if p.i == len(p.words) {
			return nil, errors.New("( without a clause after it")
		}
		if p.depth++; p.depth > maxFilterDepth {
			return nil, fmt.Errorf("parentheses nested deeper than %d", maxFilterDepth)
		}
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.closing == 0 {
			return nil, errors.New("a ( is never closed")
		}
		p.closing--
		p.depth--
		if not {
			return negated{inner}, nil
		}
		return inner, nil
	}
	if p.clauses++; p.clauses > maxClauses {
		return nil, fmt.Errorf("more than %d clauses", maxClauses)
	}
	name := p.words[p.i]
	p.i++
	f, ok := parseField(name, false)
	if !ok {
		return nil, fmt.Errorf("unknown field %q (fields: %s)", name, filterFields)
	}
	if p.i == len(p.words) {
		return nil, fmt.Errorf("%q without an operator (eq or ne) and a value", name)
	}
	op := p.words[p.i]
	p.i++
	if op != "eq" && op != "ne" {
		return nil, fmt.Errorf("unknown operator %q after %q (use eq or ne)", op, name)
	}
	if p.i == len(p.words) {
		return nil, fmt.Errorf("%s %s without a value", name, op)
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	c := &clause{field: f, ne: op == "ne", not: not, value: v}
	pattern := v
	if !strings.ContainsAny(pattern, "^$") {
		pattern = "^" + pattern + "$"
	}
	if re, err := regexp.Compile("(?i)" + pattern); err == nil {
		c.re = re
	}
	return c, nil
}

// value reads a clause's value: a word, or words in double quotes
// (joined by one space, as LXD joins them); ")" after it close groups.
func (p *filterParser) value() (string, error) {
	w := p.words[p.i]
	p.i++
	if rest, ok := strings.CutPrefix(w, `"`); ok {
		var parts []string
		for {
			if k := strings.IndexByte(rest, '"'); k >= 0 {
				parts = append(parts, rest[:k])
				tail := rest[k+1:]
				if strings.Trim(tail, ")") != "" {
					return "", fmt.Errorf("unexpected %q after a closing quote", tail)
				}
				if len(tail) > p.depth-p.closing {
					return "", fmt.Errorf("%q closes more parentheses than are open", tail)
				}
				p.closing += len(tail)
				return strings.Join(parts, " "), nil
			}
			parts = append(parts, rest)
			if p.i == len(p.words) {
				return "", fmt.Errorf("unterminated quote in %q", strings.Join(parts, " "))
			}
			rest = p.words[p.i]
			p.i++
		}
	}
	if open := p.depth - p.closing; open > 0 {
		n := min(len(w)-len(strings.TrimRight(w, ")")), open, len(w)-1)
		w = w[:len(w)-n]
		p.closing += n
	}
	return w, nil
}
