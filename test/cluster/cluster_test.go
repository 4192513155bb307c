// Package clustertest runs the pipeline on a three-node JetStream cluster:
// embedded nats-servers joined by routes on loopback, R3 streams, the real
// gateway and contacts processor, and a stream leader killed mid-load.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// cluster starts three JetStream servers routed to each other.
func cluster(t *testing.T) []*server.Server {
	t.Helper()
	routes := freePorts(t, 3)
	servers := make([]*server.Server, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		var others []string
		for j, p := range routes {
			if j != i {
				others = append(others, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		cfg := streams.ServerConfig{
			StoreDir: t.TempDir(),
			Listen:   "127.0.0.1:0",
			Name:     fmt.Sprintf("hs-%d", i+1),
			Cluster:  &streams.ClusterConfig{Name: "hookstream", Listen: fmt.Sprintf("127.0.0.1:%d", routes[i]), Routes: others},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = streams.StartServer(cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	return servers
}

// TestClusterLeaderFailover sends a sustained load of signed webhook posts
// through the gateway to R3 streams, kills the INGEST stream leader mid-load,
// and checks that every acknowledged post is in INGEST and projected exactly
// once, and that posts are acknowledged again after a new leader is elected.
// Senders behave like real ones: a 503 is retried with the same webhook-id.
func TestClusterLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped with -short")
	}
	deadline := time.Now().Add(55 * time.Second)
	log := pipelinetest.TestLogger(t, slog.LevelError)
	servers := cluster(t)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	nc, err := streams.Connect(strings.Join(urls, ","), nil, "clustertest", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := streams.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := streams.DefaultConfig()
	cfg.Replicas = 3
	// The meta leader is elected a moment after the routes form.
	testutil.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return streams.Ensure(ctx, js, cfg)
	})
	ingestInfo := func() (*jetstream.StreamInfo, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, streams.StreamIngest)
		if err != nil {
			return nil, err
		}
		return s.Info(ctx)
	}
	info, err := ingestInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("INGEST is not R3: %+v", info.Cluster)
	}

	db := pgtest.New(t)
	hooks := &webhooksdb.Webhooks{DB: db}
	wh, err := hooks.Create(context.Background(), &webhooksdb.Webhook{WorkspaceID: "ws-cluster", Name: "cluster", AuthScheme: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	gcfg := gateway.DefaultConfig()
	gcfg.PublishTimeout = 2 * time.Second
	gcfg.WebhookRate, gcfg.WebhookBurst = 100_000, 100_000
	g, err := gateway.New(gcfg, gateway.Deps{Publisher: &streams.Publisher{JS: js},
		Webhooks: gateway.NewWebhookCache(hooks, gcfg, log), Registry: prometheus.NewRegistry(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 10 * time.Second

	cp, err := contacts.New(processors.Deps{DB: db, JS: js, NC: nc, Log: log}, contacts.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pc := cp.Processors()[0]
	pc.BackoffInitial, pc.BackoffMax = 100*time.Millisecond, time.Second
	runner := &processors.Runner{JS: js, Outcomes: processors.PGOutcomes{DB: db}, Log: log}
	rctx, stopRunner := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- runner.Run(rctx, pc) }()
	t.Cleanup(func() { stopRunner(); <-runDone })

	// Load: senders post new people until told to stop, each post retried
	// (same webhook-id) until acknowledged.
	var (
		mu        sync.Mutex
		acked     = map[string]time.Time{}
		retries   atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		sendErrs  atomic.Int64
		lastError atomic.Value
	)
	send := func(id string, body []byte) {
		backoff := time.NewTicker(100 * time.Millisecond) // a sender's pause between retries
		defer backoff.Stop()
		for time.Now().Before(deadline) {
			ts := time.Now()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/"+wh.ID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
			req.Header.Set("webhook-signature", verify.SignStandard(wh.Secrets[0].Value, id, ts, body))
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked[pipelinetest.EventID(wh, id)] = time.Now()
					mu.Unlock()
					return
				}
				lastError.Store(fmt.Sprintf("status %d", resp.StatusCode))
				if resp.StatusCode != http.StatusServiceUnavailable {
					sendErrs.Add(1)
					return
				}
			} else {
				lastError.Store(err.Error())
			}
			retries.Add(1)
			<-backoff.C
		}
		sendErrs.Add(1)
	}
	for s := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := time.NewTicker(5 * time.Millisecond) // each sender posts about 200/s at most
			defer pace.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				id := fmt.Sprintf("s%d-%d", s, i)
				body := fmt.Appendf(nil, `{"email":"p-%d-%d@cluster.example.com","first_name":"P%d"}`, s, i, i)
				send(id, body)
			}
		}()
	}
	countAcked := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	ackedAtLeast := func(n int) func() error {
		return func() error {
			if got := countAcked(); got < n {
				return fmt.Errorf("%d posts acknowledged, want %d (last error %v)", got, n, lastError.Load())
			}
			return nil
		}
	}

	// Load under way before the leader dies.
	testutil.CheckFor(t, 30*time.Second, 20*time.Millisecond, ackedAtLeast(300))
	beforeKill := countAcked()
	if beforeKill == 0 {
		t.Fatalf("nothing acknowledged before the failover (last error %v)", lastError.Load())
	}
	info, err = ingestInfo()
	if err != nil {
		t.Fatal(err)
	}
	oldLeader := info.Cluster.Leader
	killedAt := time.Now()
	for _, s := range servers {
		if s.Name() == oldLeader {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	var newLeader string
	testutil.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		info, err := ingestInfo()
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || info.Cluster.Leader == oldLeader {
			return fmt.Errorf("no new INGEST leader yet (%+v)", info.Cluster)
		}
		newLeader = info.Cluster.Leader
		return nil
	})
	elected := time.Since(killedAt)
	// Keep the load on after the election.
	afterElection := countAcked()
	testutil.CheckFor(t, 30*time.Second, 20*time.Millisecond, ackedAtLeast(afterElection+300))
	close(stop)
	wg.Wait()
	total := countAcked()
	t.Logf("leader %s killed after %d acks; %s elected in %v; %d acks after; %d total; %d retried posts",
		oldLeader, beforeKill, newLeader, elected.Round(time.Millisecond), total-afterElection, total, retries.Load())
	if n := sendErrs.Load(); n > 0 {
		t.Fatalf("%d posts never acknowledged (last error %v)", n, lastError.Load())
	}
	if total-afterElection < 10 {
		t.Fatalf("only %d posts acknowledged after the new leader was elected", total-afterElection)
	}

	// Every acknowledged post is in INGEST, once.
	mu.Lock()
	want := make([]string, 0, len(acked))
	for id := range acked {
		want = append(want, id)
	}
	mu.Unlock()
	var inStream map[string]int
	testutil.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		var err error
		inStream, err = msgIDs(js)
		return err
	})
	for _, id := range want {
		if inStream[id] == 0 {
			t.Errorf("acknowledged %s is not in INGEST", id)
		}
	}
	if len(inStream) != len(want) {
		t.Errorf("INGEST holds %d distinct events, %d were acknowledged", len(inStream), len(want))
	}
	dups := 0
	for _, n := range inStream {
		dups += n - 1
	}
	if dups > 0 {
		t.Logf("%d events stored twice across the failover (deduplicated by the processor)", dups)
	}

	// Projected exactly once.
	testutil.CheckFor(t, time.Until(deadline)+5*time.Second, 200*time.Millisecond, func() error {
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n); err != nil {
			return err
		}
		if n < len(want) {
			return fmt.Errorf("%d of %d acknowledged events projected", n, len(want))
		}
		return nil
	})
	var leads, distinct, matched, processed int
	ctx := context.Background()
	db.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE event_id = ANY($1)) FROM leads`, want).
		Scan(&leads, &distinct, &matched)
	db.QueryRow(ctx, `SELECT count(*) FROM processed WHERE processor='contacts'`).Scan(&processed)
	if leads != len(want) || distinct != len(want) || matched != len(want) || processed != len(want) {
		t.Errorf("%d leads (%d distinct, %d acknowledged), %d processed rows, for %d acknowledged posts",
			leads, distinct, matched, processed, len(want))
	}
}

// msgIDs counts INGEST messages per Nats-Msg-Id.
func msgIDs(js jetstream.JetStream) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, streams.StreamIngest, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for left := int(info.NumPending); left > 0; {
		b, err := c.Fetch(min(left, 500), jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range b.Messages() {
			n++
			out[m.Headers().Get(streams.HdrMsgID)]++
		}
		if n == 0 {
			return nil, fmt.Errorf("read stopped with %d left: %w", left, b.Error())
		}
		left -= n
	}
	return out, nil
}
