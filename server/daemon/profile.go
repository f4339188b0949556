package daemon

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

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
	if err := instances.ValidateDevices(p.Devices, prev); err != nil {
		return errdefs.Invalidf("profile %q: %v", p.Name, err)
	}
	if err := d.inst.CheckLimits(p.Config); err != nil {
		return errdefs.Invalidf("profile %q: %v", p.Name, err)
	}
	return nil
}

func (d *Daemon) getProfile(ctx context.Context, name string) (db.Profile, error) {
	p, err := d.db.GetProfile(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return p, errdefs.NotFoundf("profile %q not found (see lodge profile list)", name)
	}
	return p, err
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
	type change struct{ oldX, newX Expanded }
	var done []change
	rollback := func() {
		for _, c := range done {
			if spec, err := d.specFor(ctx, c.oldX); err == nil {
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
			var newX Expanded
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
		if err := d.profileChangedGuest(ctx, c.oldX, c.newX); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Profile is a profile and the instances that use it.
type Profile struct {
	db.Profile
	UsedBy []string
}

// Profiles lists the profiles, with their users if withUsers.
func (d *Daemon) Profiles(ctx context.Context, withUsers bool) ([]Profile, error) {
	list, err := d.db.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Profile, 0, len(list))
	for _, p := range list {
		var users []string
		if withUsers {
			if users, err = d.db.ProfileUsers(ctx, p.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, Profile{p, users})
	}
	return out, nil
}

// Profile reads a profile and its users.
func (d *Daemon) Profile(ctx context.Context, name string) (Profile, error) {
	p, err := d.getProfile(ctx, name)
	if err != nil {
		return Profile{}, err
	}
	users, err := d.db.ProfileUsers(ctx, p.Name)
	return Profile{p, users}, err
}

// CreateProfile checks a new profile as an instance's config and devices
// would be checked, then stores it.
func (d *Daemon) CreateProfile(ctx context.Context, req api.ProfilesPost) error {
	if err := validateProfileName(req.Name); err != nil {
		return err
	}
	p := db.Profile{Name: req.Name, Description: req.Description, Config: req.Config, Devices: req.Devices}
	if err := d.validateProfile(p, nil); err != nil {
		return err
	}
	if err := d.db.CreateProfile(ctx, p); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("profile %q already exists", req.Name)
		}
		return err
	}
	d.events.lifecycle("profile-created", ProfileURL(req.Name), nil)
	return nil
}

// UpdateProfile replaces (or with u.Patch merges) a profile; every
// instance using it follows (applyProfile).
func (d *Daemon) UpdateProfile(ctx context.Context, name string, req api.ProfilePut, u Update) error {
	old, err := d.getProfile(ctx, name)
	if err != nil {
		return err
	}
	if err := u.check(old); err != nil {
		return err
	}
	next := db.Profile{Name: name, Description: req.Description, Config: req.Config, Devices: req.Devices}
	if u.Patch {
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
	if err := d.validateProfile(next, old.Devices); err != nil {
		return err
	}
	if err := d.applyProfile(ctx, next); err != nil {
		return err
	}
	// Its NICs are every user's: the reservations follow a change of them.
	if nicsChanged(old.Devices, next.Devices) {
		d.syncNetworkHosts(ctx)
	}
	d.events.lifecycle("profile-updated", ProfileURL(name), nil)
	return nil
}

// RenameProfile renames a profile (not the default one).
func (d *Daemon) RenameProfile(ctx context.Context, name, newName string) error {
	if _, err := d.getProfile(ctx, name); err != nil {
		return err
	}
	if name == "default" {
		return errdefs.Invalidf("the default profile cannot be renamed")
	}
	if err := validateProfileName(newName); err != nil {
		return err
	}
	if err := d.db.RenameProfile(ctx, name, newName); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("profile %q already exists", newName)
		}
		return err
	}
	d.events.lifecycle("profile-renamed", ProfileURL(newName), map[string]any{"old_name": name})
	return nil
}

// DeleteProfile removes a profile no instance uses (not the default one).
func (d *Daemon) DeleteProfile(ctx context.Context, name string) error {
	if _, err := d.getProfile(ctx, name); err != nil {
		return err
	}
	if name == "default" {
		return errdefs.Invalidf("the default profile cannot be deleted")
	}
	users, err := d.db.ProfileUsers(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return errdefs.Invalidf("profile %q is in use by %s; remove it from them first (lodge profile remove INSTANCE %s)", name, strings.Join(users, ", "), name)
	}
	if err := d.db.DeleteProfile(ctx, name); err != nil {
		return err
	}
	d.events.lifecycle("profile-deleted", ProfileURL(name), nil)
	return nil
}

// nicsChanged tells whether two device sets differ in their NICs.
func nicsChanged(a, b map[string]map[string]string) bool {
	nics := func(devs map[string]map[string]string) map[string]map[string]string {
		out := map[string]map[string]string{}
		for k, v := range devs {
			if v["type"] == "nic" {
				out[k] = v
			}
		}
		return out
	}
	na, nb := nics(a), nics(b)
	return !maps.EqualFunc(na, nb, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}
