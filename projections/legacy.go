package projections

// legacyVersions maps each version of the single migrations directory that
// came before the per-package line to the versions holding its content
// now. A database that applied the old version has that content, so the
// new versions are recorded as applied instead of run. This list never
// grows: new migrations only have new versions.
func legacyVersions() map[string][]string {
	return map[string][]string{
		"0001_core": {
			"20261122000100_webhooks_init",
			"20261122000101_ledger_processed",
			"20261122000102_audit_event_outcomes",
		},
		"0002_outbox":     {"20261122000200_ledger_outbox_results"},
		"0010_contacts":   {"20261122001000_contacts_init"},
		"0020_boards":     {"20261122002000_boards_init"},
		"0030_payments":   {"20261122003000_payments_init"},
		"0040_crm":        {"20261122004000_crm_init"},
		"0050_mailerlite": {"20261122005000_mailerlite_init"},
		"0060_ga4":        {"20261122006000_ga4_init"},
		"0070_notify":     {"20261122007000_notify_init"},
		"0080_audit":      {"20261122008000_audit_erasures"},
	}
}
