package contacts

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors/events"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
)

// contact is a contacts row.
type contact = contactsdb.Contact

// identityRef is one identity value of a person, by reference so merge can
// set it.
type identityRef struct {
	col  contactsdb.Column
	lock string // the column's name in lock and ordering keys
	val  *string
}

// identityRefs lists a person's identity values in the order matching tries
// them: CRM id, then phone, then e-mail. It is the one place that names the
// identity keys.
func identityRefs(crmID, phone, email *string) [3]identityRef {
	return [3]identityRef{{contactsdb.CRMID, "crm", crmID}, {contactsdb.Phone, "phone", phone},
		{contactsdb.Email, "email", email}}
}

func fieldIdentities(f *lead.Fields) [3]identityRef {
	return identityRefs(&f.CRMID, &f.Phone, &f.Email)
}

func contactIdentities(c *contact) [3]identityRef {
	return identityRefs(&c.CRMID, &c.Phone, &c.Email)
}

// identityKeys are the advisory-lock and ordering keys of a candidate.
func identityKeys(workspace string, f lead.Fields) []string {
	var ks []string
	for _, r := range fieldIdentities(&f) {
		if v := *r.val; v != "" {
			if r.col == contactsdb.Email {
				v = strings.ToLower(v)
			}
			ks = append(ks, workspace+"\x1f"+r.lock+"\x1f"+v)
		}
	}
	return ks
}

// identities are the non-empty identity values of a candidate, for loading
// the contacts it can reach.
func identities(workspace string, f lead.Fields) []contactsdb.Identity {
	var ids []contactsdb.Identity
	for _, r := range fieldIdentities(&f) {
		if *r.val != "" {
			ids = append(ids, contactsdb.Identity{Workspace: workspace, Column: r.col, Value: *r.val})
		}
	}
	return ids
}

// contactIndex is a transaction's view of the contacts its events can
// reach, by every identity value they hold (erased ones included: their
// values would still break uniqueness). Matching against it gives what
// matching against the locked table would: the index holds every contact
// any of the events' identity values names, and follows the changes the
// events make.
type contactIndex map[contactsdb.Identity]*contact

func newContactIndex(cs []*contact) contactIndex {
	x := contactIndex{}
	for _, c := range cs {
		x.add(c)
	}
	return x
}

func (x contactIndex) add(c *contact) {
	for _, r := range contactIdentities(c) {
		if *r.val != "" {
			x[contactsdb.Identity{Workspace: c.WorkspaceID, Column: r.col, Value: *r.val}] = c
		}
	}
}

// moved updates the index after merge changed c's identity values.
func (x contactIndex) moved(c *contact, before [3]string) {
	for i, r := range contactIdentities(c) {
		if old, v := before[i], *r.val; old != v {
			if k := (contactsdb.Identity{Workspace: c.WorkspaceID, Column: r.col, Value: old}); old != "" && x[k] == c {
				delete(x, k)
			}
			if v != "" {
				x[contactsdb.Identity{Workspace: c.WorkspaceID, Column: r.col, Value: v}] = c
			}
		}
	}
}

func identityValues(c *contact) (vs [3]string) {
	for i, r := range contactIdentities(c) {
		vs[i] = *r.val
	}
	return vs
}

// match finds the contact of f: by CRM id, then phone, then e-mail, among
// contacts that are not erased. The match type is the column that matched,
// or "new".
func (x contactIndex) match(ws string, f lead.Fields) (*contact, string) {
	for _, r := range fieldIdentities(&f) {
		if *r.val == "" {
			continue
		}
		if c := x[contactsdb.Identity{Workspace: ws, Column: r.col, Value: *r.val}]; c != nil && !c.Erased {
			return c, string(r.col)
		}
	}
	return nil, "new"
}

// taken reports whether a contact other than c holds value v in column col.
func (x contactIndex) taken(c *contact, col contactsdb.Column, v string) bool {
	o := x[contactsdb.Identity{Workspace: c.WorkspaceID, Column: col, Value: v}]
	return o != nil && o.ID != c.ID
}

// merge applies f, an event's values from time at received at received, to
// c. A value from an event older than the newest one already applied only
// fills empty fields; a newer event overwrites with its non-empty values.
// Identity values another contact already holds are left alone (they would
// break uniqueness); the conflicts are reported.
//
// UpdatedAt is the latest receipt among the events applied to the contact,
// whatever their order: it never moves back, and it depends only on the
// events, so a rebuild and any batching reproduce it.
func merge(x contactIndex, c *contact, f lead.Fields, at, received time.Time) (conflicts []string) {
	newer := !at.Before(c.SourceTime)
	set := func(dst *string, v string) {
		if v != "" && (newer || *dst == "") {
			*dst = v
		}
	}
	before := identityValues(c)
	src := fieldIdentities(&f)
	for i, r := range contactIdentities(c) {
		v := *src[i].val
		if v == "" || *r.val == v || !(newer || *r.val == "") {
			continue
		}
		if x.taken(c, r.col, v) {
			conflicts = append(conflicts, string(r.col))
			continue
		}
		*r.val = v
	}
	x.moved(c, before)
	set(&c.FirstName, f.FirstName)
	set(&c.LastName, f.LastName)
	set(&c.Company, f.Company)
	set(&c.Product, f.Product)
	set(&c.LeadStatus, f.LeadStatus)
	set(&c.ServiceInterest, f.ServiceInterest)
	if f.MarketingConsent != nil && (newer || c.MarketingConsent == nil) {
		v := *f.MarketingConsent
		c.MarketingConsent = &v
	}
	for k, v := range f.Custom {
		if c.Custom == nil {
			c.Custom = map[string]string{}
		}
		if _, ok := c.Custom[k]; newer || !ok {
			c.Custom[k] = v
		}
	}
	if newer {
		c.SourceTime = at
	}
	if received.After(c.UpdatedAt) {
		c.UpdatedAt = received
	}
	return conflicts
}

func newContact(workspace, eventID string, f lead.Fields, at, received time.Time) *contact {
	return &contact{ID: stableID("ct_", workspace, eventID), WorkspaceID: workspace,
		CRMID: f.CRMID, Email: f.Email, Phone: f.Phone, FirstName: f.FirstName, LastName: f.LastName,
		Company: f.Company, Product: f.Product, LeadStatus: f.LeadStatus, ServiceInterest: f.ServiceInterest,
		MarketingConsent: f.MarketingConsent, Custom: f.Custom,
		SourceTime: at, CreatedEventID: eventID, CreatedAt: received, UpdatedAt: received}
}

// eventContact is the contact as events carry it.
func eventContact(c *contact) events.Contact {
	return events.Contact{ID: c.ID, WorkspaceID: c.WorkspaceID, CRMID: c.CRMID, Email: c.Email, Phone: c.Phone,
		FirstName: c.FirstName, LastName: c.LastName, Company: c.Company, Product: c.Product,
		LeadStatus: c.LeadStatus, ServiceInterest: c.ServiceInterest, MarketingConsent: c.MarketingConsent,
		Score: c.Score, BoardID: c.BoardID, BoardName: c.BoardName, Custom: c.Custom}
}

// stableID derives an id from the source event, so a rebuild from the stream
// yields the same ids.
func stableID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:20]
}
