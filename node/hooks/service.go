package hooks

// ServiceEnv is what a hook is told about the service's roles
// (docs/switchover.md). Each field becomes one BATON_* variable, always
// present, empty when unknown or not the hook's business.
type ServiceEnv struct {
	// Primary is the service's primary as Baton records it (BATON_PRIMARY);
	// for follow, the new primary.
	Primary string
	// OldPrimary is the primary being replaced, for promote
	// (BATON_OLD_PRIMARY).
	OldPrimary string
	// NewPrimary is the candidate taking over, for demote
	// (BATON_NEW_PRIMARY).
	NewPrimary string
	// MembersFile is a JSON file of the members, current when the hook
	// starts (BATON_MEMBERS_FILE).
	MembersFile string
}

// Env returns the variables of v as KEY=value strings.
func (v ServiceEnv) Env() []string {
	return []string{
		"BATON_PRIMARY=" + v.Primary,
		"BATON_OLD_PRIMARY=" + v.OldPrimary,
		"BATON_NEW_PRIMARY=" + v.NewPrimary,
		"BATON_MEMBERS_FILE=" + v.MembersFile,
	}
}
