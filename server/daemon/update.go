package daemon

// Update says how a PUT or PATCH applies: Patch merges into what is
// stored (PUT replaces it); IfMatch, if set, is called with the stored
// object (its db row) under the lock the update takes, before anything
// changes, and its error (a failed precondition) stops the update.
type Update struct {
	Patch   bool
	IfMatch func(current any) error
}

func (u Update) check(current any) error {
	if u.IfMatch == nil {
		return nil
	}
	return u.IfMatch(current)
}
