package server

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

func profileURL(name string) string { return "/1.0/profiles/" + name }

var profileNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

func validateProfileName(name string) error {
	if !profileNameRE.MatchString(name) {
		return errdefs.Invalidf("profile name %q is not valid: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	return nil
}

// profilesOf returns the named profiles in order; a missing one is a 400.
func (d *Daemon) profilesOf(ctx context.Context, names []string) ([]db.Profile, error) {
	if len(names) == 0 {
		return nil, nil
	}
	all, err := d.db.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]db.Profile{}
	for _, p := range all {
		byName[p.Name] = p
	}
	out := make([]db.Profile, 0, len(names))
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, errdefs.Invalidf("profile %q not found (see lodge profile list)", n)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkProfilesExist refuses unknown or repeated profile names.
func (d *Daemon) checkProfilesExist(ctx context.Context, names []string) error {
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			return errdefs.Invalidf("profile %q is listed twice", n)
		}
	}
	_, err := d.profilesOf(ctx, names)
	return err
}

// validateProfile checks a profile's config and devices as an instance's
// would be checked; volatile.* belongs to instances only. prev are the
// profile's devices before this write (nil for a new profile): what they
// hold unchanged is not checked again.
func (d *Daemon) validateProfile(p db.Profile, prev map[string]map[string]string) error {
	for k := range p.Config {
		if strings.HasPrefix(k, "volatile.") {
			return errdefs.Invalidf("profile %q: config key %q: volatile.* keys belong to instances", p.Name, k)
		}
	}
	if err := instances.ValidateConfig(p.Config); err != nil {
		return errdefs.Invalidf("profile %q: %v", p.Name, err)
	}
	if root, ok := p.Devices["root"]; ok {
		if root["type"] != "disk" || root["path"] != "/" || root["pool"] == "" {
			return errdefs.Invalidf("profile %q: device \"root\" must be a disk with path=/ and pool=POOL", p.Name)
		}
	}
	if err := validateDevices(p.Devices, prev); err != nil {
		return errdefs.Invalidf("profile %q: %v", p.Name, err)
	}
	if err := d.inst.CheckLimits(p.Config); err != nil {
		return errdefs.Invalidf("profile %q: %v", p.Name, err)
	}
	return nil
}

func (s *Server) renderProfile(ctx context.Context, p db.Profile) (api.Profile, error) {
	users, err := s.d.db.ProfileUsers(ctx, p.Name)
	if err != nil {
		return api.Profile{}, err
	}
	out := api.Profile{ProfilePut: api.ProfilePut{Config: p.Config, Description: p.Description, Devices: p.Devices},
		Name: p.Name, UsedBy: []string{}}
	for _, u := range users {
		out.UsedBy = append(out.UsedBy, instanceURL(u))
	}
	return out, nil
}

func (s *Server) handleProfilesGet(w http.ResponseWriter, r *http.Request) {
	list, err := s.d.db.ListProfiles(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, p := range list {
			urls = append(urls, profileURL(p.Name))
		}
		writeSync(w, urls)
		return
	}
	out := []api.Profile{}
	for _, p := range list {
		ap, err := s.renderProfile(r.Context(), p)
		if err != nil {
			writeError(w, err)
			return
		}
		out = append(out, ap)
	}
	writeSync(w, out)
}

func (s *Server) handleProfilesPost(w http.ResponseWriter, r *http.Request) {
	var req api.ProfilesPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateProfileName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	p := db.Profile{Name: req.Name, Description: req.Description, Config: req.Config, Devices: req.Devices}
	if err := s.d.validateProfile(p, nil); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.db.CreateProfile(r.Context(), p); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("profile %q already exists", req.Name)
		}
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("profile-created", profileURL(req.Name), nil)
	w.Header().Set("Location", profileURL(req.Name))
	writeSync(w, map[string]any{})
}

func (d *Daemon) getProfile(ctx context.Context, name string) (db.Profile, error) {
	p, err := d.db.GetProfile(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return p, errdefs.NotFoundf("profile %q not found (see lodge profile list)", name)
	}
	return p, err
}

func profileETag(p api.Profile) any { return []any{p.Config, p.Description, p.Devices} }

func (s *Server) handleProfileGet(w http.ResponseWriter, r *http.Request) {
	p, err := s.d.getProfile(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	ap, err := s.renderProfile(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeSyncETag(w, ap, profileETag(ap))
}

func (s *Server) handleProfilePut(w http.ResponseWriter, r *http.Request) {
	s.updateProfile(w, r, false)
}
func (s *Server) handleProfilePatch(w http.ResponseWriter, r *http.Request) {
	s.updateProfile(w, r, true)
}

func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request, patch bool) {
	name := r.PathValue("name")
	old, err := s.d.getProfile(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.ProfilePut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		cur := api.Profile{ProfilePut: api.ProfilePut{Config: old.Config, Description: old.Description, Devices: old.Devices}}
		if strings.Trim(m, `"`) != etag(profileETag(cur)) {
			writeError(w, errdefs.Preconditionf("profile %q changed since you read it (ETag mismatch); read it again and retry", name))
			return
		}
	}
	next := db.Profile{Name: name, Description: req.Description, Config: req.Config, Devices: req.Devices}
	if patch {
		next.Config, next.Devices = maps.Clone(old.Config), maps.Clone(old.Devices)
		maps.Copy(next.Config, req.Config)
		maps.Copy(next.Devices, req.Devices)
		if req.Description == "" {
			next.Description = old.Description
		}
	}
	if next.Config == nil {
		next.Config = map[string]string{}
	}
	if next.Devices == nil {
		next.Devices = map[string]map[string]string{}
	}
	if err := s.d.validateProfile(next, old.Devices); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.applyProfile(r.Context(), next); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("profile-updated", profileURL(name), nil)
	writeSync(w, map[string]any{})
}

// applyProfile stores a changed profile and makes every instance using it
// follow: each one's runtime config is re-rendered with the new profile
// first (a refusal by liblxc or the limits rolls them all back and stores
// nothing), then the profile is stored, then running instances get their
// live keys (limits) at once.
func (d *Daemon) applyProfile(ctx context.Context, next db.Profile) error {
	users, err := d.db.ProfileUsers(ctx, next.Name)
	if err != nil {
		return err
	}
	slices.Sort(users) // a fixed lock order
	for _, u := range users {
		unlock := d.instLocks.lock(u)
		defer unlock()
	}
	override := map[string]db.Profile{next.Name: next}
	type change struct{ oldX, newX db.Instance }
	var done []change
	rollback := func() {
		for _, c := range done {
			if spec, err := d.specFor(c.oldX); err == nil {
				_ = d.inst.Define(context.WithoutCancel(ctx), spec)
			}
		}
	}
	for _, u := range users {
		in, err := d.db.GetInstance(ctx, u)
		if err != nil {
			rollback()
			return err
		}
		if in.Phase != db.PhaseCreated {
			continue
		}
		oldX, err := d.expand(ctx, in)
		if err == nil {
			var newX db.Instance
			newX, err = d.expandWith(ctx, in, override)
			if err == nil {
				err = d.checkAndDefine(ctx, oldX, newX)
				done = append(done, change{oldX, newX})
			}
		}
		if err != nil {
			rollback()
			return errdefs.Invalidf("profile %q: instance %q: %v", next.Name, u, err)
		}
	}
	if err := d.db.UpdateProfile(ctx, next); err != nil {
		rollback()
		return err
	}
	var errs []error
	for _, c := range done {
		if err := d.applyLive(ctx, c.oldX, c.newX); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) handleProfilePost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.d.getProfile(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	var req api.ProfilePost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if name == "default" {
		writeError(w, errdefs.Invalidf("the default profile cannot be renamed"))
		return
	}
	if err := validateProfileName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.db.RenameProfile(r.Context(), name, req.Name); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("profile %q already exists", req.Name)
		}
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("profile-renamed", profileURL(req.Name), map[string]any{"old_name": name})
	w.Header().Set("Location", profileURL(req.Name))
	writeSync(w, map[string]any{})
}

func (s *Server) handleProfileDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.d.getProfile(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	if name == "default" {
		writeError(w, errdefs.Invalidf("the default profile cannot be deleted"))
		return
	}
	users, err := s.d.db.ProfileUsers(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(users) > 0 {
		writeError(w, errdefs.Invalidf("profile %q is in use by %s; remove it from them first (lodge profile remove INSTANCE %s)", name, strings.Join(users, ", "), name))
		return
	}
	if err := s.d.db.DeleteProfile(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("profile-deleted", profileURL(name), nil)
	writeSync(w, map[string]any{})
}
