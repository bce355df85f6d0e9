package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/app"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestCRUDAndOrganizationIsolation(t *testing.T) {
	s := newStack(t, "crud")
	c := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(c)
	logs := &syncBuffer{}
	_, base := s.startServer(logs)
	orgA, orgB := s.newOrg("Org A"), s.newOrg("Org B")
	a, b := newClient(t, base, orgA), newClient(t, base, orgB)

	a.must(http.StatusOK, "GET", "/api/health", nil, nil)
	a.must(http.StatusOK, "GET", "/api/ready", nil, nil)

	// Contacts: create, read, list, update.
	email := "ada@example.com"
	var ada app.Contact
	a.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Ada Lovelace", Email: &email}, &ada)
	if ada.ID == "" || ada.OrgID != orgA || ada.Name != "Ada Lovelace" || ada.Email == nil || *ada.Email != email {
		t.Fatalf("created contact: got %+v; want Ada in org A", ada)
	}
	var got app.Contact
	a.must(http.StatusOK, "GET", "/api/contacts/"+ada.ID, nil, &got)
	if got.ID != ada.ID || got.Name != ada.Name {
		t.Errorf("get contact: got %+v; want %+v", got, ada)
	}
	company := "Analytical Engines"
	a.must(http.StatusOK, "PUT", "/api/contacts/"+ada.ID, app.ContactInput{Name: "Ada King", Company: &company}, &got)
	if got.Name != "Ada King" || got.Company == nil || *got.Company != company || got.Email != nil {
		t.Errorf("updated contact: got %+v; want name Ada King, company set, email null", got)
	}
	var list struct{ Contacts []app.Contact }
	a.must(http.StatusOK, "GET", "/api/contacts?q=king", nil, &list)
	if len(list.Contacts) != 1 || list.Contacts[0].ID != ada.ID {
		t.Errorf("search contacts: got %d; want Ada", len(list.Contacts))
	}

	// Deals, linked to the contact.
	var deal app.Deal
	a.must(http.StatusCreated, "POST", "/api/deals", app.DealInput{Name: "Engine", ContactID: &ada.ID, Value: "1250.50", Stage: "opportunity"}, &deal)
	if deal.Value != "1250.50" || deal.Stage != "opportunity" || deal.ContactID == nil || *deal.ContactID != ada.ID {
		t.Errorf("created deal: got %+v; want value 1250.50, stage opportunity, contact Ada", deal)
	}
	a.must(http.StatusOK, "PUT", "/api/deals/"+deal.ID, app.DealInput{Name: "Engine", ContactID: &ada.ID, Value: "2000", Stage: "signed"}, &deal)
	if deal.Stage != "signed" || deal.Value != "2000" {
		t.Errorf("updated deal: got %+v; want signed, 2000", deal)
	}
	var e errorBody
	a.must(http.StatusUnprocessableEntity, "POST", "/api/deals", app.DealInput{Name: "Bad", Stage: "won"}, &e)
	if e.Error.Code != "invalid" {
		t.Errorf("deal with unknown stage: got code %q; want invalid", e.Error.Code)
	}

	// Organization B sees none of A's rows and cannot touch them.
	b.must(http.StatusOK, "GET", "/api/contacts", nil, &list)
	if len(list.Contacts) != 0 {
		t.Errorf("B lists contacts: got %d; want 0", len(list.Contacts))
	}
	var deals struct{ Deals []app.Deal }
	b.must(http.StatusOK, "GET", "/api/deals", nil, &deals)
	if len(deals.Deals) != 0 {
		t.Errorf("B lists deals: got %d; want 0", len(deals.Deals))
	}
	b.must(http.StatusNotFound, "GET", "/api/contacts/"+ada.ID, nil, nil)
	b.must(http.StatusNotFound, "PUT", "/api/contacts/"+ada.ID, app.ContactInput{Name: "Hijacked"}, nil)
	b.must(http.StatusNotFound, "DELETE", "/api/contacts/"+ada.ID, nil, nil)
	b.must(http.StatusNotFound, "GET", "/api/deals/"+deal.ID, nil, nil)
	b.must(http.StatusNotFound, "PUT", "/api/deals/"+deal.ID, app.DealInput{Name: "Hijacked"}, nil)
	b.must(http.StatusNotFound, "DELETE", "/api/deals/"+deal.ID, nil, nil)
	// B may not attach its deal to A's contact.
	b.must(http.StatusUnprocessableEntity, "POST", "/api/deals", app.DealInput{Name: "Steal", ContactID: &ada.ID}, &e)
	if e.Error.Code != "unknown_reference" {
		t.Errorf("B's deal on A's contact: got code %q; want unknown_reference", e.Error.Code)
	}
	var bob app.Contact
	b.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Bob"}, &bob)
	a.must(http.StatusNotFound, "GET", "/api/contacts/"+bob.ID, nil, nil)

	// A's rows are unchanged, checked by the superuser.
	var name string
	if err := s.observer.QueryRow(context.Background(), `SELECT name FROM contacts WHERE id = $1`, ada.ID).Scan(&name); err != nil || name != "Ada King" {
		t.Errorf("A's contact after B's attempts: got %q, %v; want Ada King", name, err)
	}

	// Delete.
	a.must(http.StatusNoContent, "DELETE", "/api/deals/"+deal.ID, nil, nil)
	a.must(http.StatusNoContent, "DELETE", "/api/contacts/"+ada.ID, nil, nil)
	a.must(http.StatusNotFound, "GET", "/api/contacts/"+ada.ID, nil, nil)

	// Bad requests answer JSON errors.
	for _, tc := range []struct {
		name, org, method, path, code string
		body                          any
		status                        int
	}{
		{"no org", "", "GET", "/api/contacts", "missing_org", nil, 400},
		{"bad org", "not-a-uuid", "GET", "/api/contacts", "invalid_org", nil, 400},
		{"bad id", orgA, "GET", "/api/contacts/42", "invalid_id", nil, 400},
		{"no name", orgA, "POST", "/api/contacts", "invalid", map[string]string{"email": "x@y"}, 422},
		{"unknown field", orgA, "POST", "/api/contacts", "bad_json", map[string]string{"name": "x", "org_id": orgB}, 400},
		{"unknown org", "00000000-0000-4000-8000-000000000000", "POST", "/api/contacts", "unknown_reference", map[string]string{"name": "x"}, 422},
		{"no route", orgA, "GET", "/api/nothing", "no_route", nil, 404},
	} {
		var e errorBody
		cl := newClient(t, base, tc.org)
		got, err := cl.do(tc.method, tc.path, tc.body, &e)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s: got %d %q; want %d %q", tc.name, got, e.Error.Code, tc.status, tc.code)
		}
	}

	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) || !strings.Contains(out, `"route":"GET /api/contacts/{id}"`) {
		t.Errorf("request log: want JSON lines with the route; got %.300s", out)
	}
	if strings.Contains(out, "not-a-real-token") || strings.Contains(strings.ToLower(out), "authorization") {
		t.Errorf("request log: contains the Authorization header")
	}
	s.assertNoSecrets("request log", out)
}
