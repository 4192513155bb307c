package webhooks

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the webhooks table.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "webhooks",
		Migrations: migrations(),
		Config:     []string{"webhooks"},
		NotPersonal: map[string]string{
			"webhooks":      "configuration",
			"webhooks.name": "a webhook's label",
		},
	}
}
