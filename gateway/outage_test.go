package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// pgOutage makes the env's database refuse connections and ends the ones
// open (as a stopped Postgres would look to the gateway); the returned
// function ends the outage.
func pgOutage(t *testing.T, env *testEnv) (restore func()) {
	t.Helper()
	ctx := context.Background()
	db := env.pool.Config().ConnConfig.Database
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS false", pgx.Identifier{db}.Sanitize()))
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db)
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d backends left", n)
		}
		return nil
	})
	return func() { exec(fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", pgx.Identifier{db}.Sanitize())) }
}

// TestWebhook_PostgresOutage: with Postgres unreachable (and the NOTIFY
// listener lost) cached webhooks keep being accepted, past their TTL, while
// a rotated-out secret still stops verifying at its expiry. When Postgres
// returns, changes apply again.
func TestWebhook_PostgresOutage(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withOwnDB())
	exp := t0.Add(30 * time.Second)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "token", Secrets: []webhooksdb.Secret{
		{Value: "new"}, {Value: "old", ExpiresAt: &exp},
	}})
	// Listen only now: the creation's NOTIFY, arriving late, would drop the
	// entry cached below and leave the outage nothing to serve from.
	env.startListen()
	path := "/webhooks/" + wh.ID
	n := 0
	post := func(token string) *result {
		n++
		return env.post(path, []byte(fmt.Sprintf(`{"email":"out%d@example.com"}`, n)), hdrs("Authorization", "Bearer "+token))
	}
	post("old").wantAccepted(t)
	post("new").wantAccepted(t)

	restore := pgOutage(t, env)
	// Across a listener retry (every 2 s) requests keep being accepted:
	// post until the listener has failed twice (lost, then its retry).
	lost := env.listenerLost.n.Load()
	testutil.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		post("new").wantAccepted(t)
		if n := env.listenerLost.n.Load() - lost; n < 2 {
			return fmt.Errorf("listener failed %d times since the outage, want 2", n)
		}
		return nil
	})
	env.clock.Advance(31 * time.Second) // old expired; cache entry due for reload, which fails
	env.rejects(t, 401, "invalid_signature", func() *result { return post("old") })
	post("new").wantAccepted(t)
	env.clock.Advance(3 * env.cfg.WebhookCacheTTL) // a long outage
	post("new").wantAccepted(t)
	// Still ready (a load balancer keeps the gateway), but degraded.
	if r := env.get("/readyz"); r.Status != 200 || !strings.Contains(string(r.Body), `"degraded":true`) ||
		strings.Contains(string(r.Body), `"postgres":"ok"`) {
		t.Errorf("readyz during a Postgres outage: %d %s", r.Status, r.Body)
	}
	// A webhook never seen before cannot be verified: 503, retry later.
	env.rejects(t, 503, "stream_unavailable", func() *result { return env.post("/webhooks/wh_unseen", []byte(`{"email":"u@example.com"}`), nil) })

	restore()
	if _, err := env.store.SetActive(context.Background(), wh.ID, false); err != nil {
		testutil.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
			_, err := env.store.SetActive(context.Background(), wh.ID, false)
			return err
		})
	}
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if r := post("new"); r.Status != 404 {
			return fmt.Errorf("still %d after the webhook was disabled", r.Status)
		}
		return nil
	})
}
