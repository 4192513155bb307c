package bench

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/streams"
)

// webhookRef is one webhook the bench created (auth "standard").
type webhookRef struct {
	ID, Workspace, Secret string
}

var areaCodes = []int{212, 213, 310, 312, 415, 617, 702, 713, 206, 303, 404, 503, 602, 646, 718, 808, 917, 972, 480, 512}

// leadBody is the lead-vendor JSON of event i of a run: a new person each
// time, except every tenth event, which reuses the e-mail of an earlier one
// (the update path: match by e-mail, merge, new lead). Every body passes the
// gateway's and the contacts processor's validation (E.164-valid US numbers).
func leadBody(tag string, i int) []byte {
	person := i
	if i%10 == 9 {
		person = i - 5
	}
	a, n := areaCodes[i%len(areaCodes)], i/len(areaCodes)
	return fmt.Appendf(nil, `{"first_name":"Ada","last_name":"Bench %d","email":"lead-%s-%d@example.com",`+
		`"phone":"+1 %d-%03d-%04d","product":"Bath Remodel","lead_status":"new","service_interest":"remodel",`+
		`"utm_source":"google","utm_medium":"cpc","utm_campaign":"spring-sale",`+
		`"page_url":"https://example.com/landing?gclid=abc123","marketing_consent":"yes","submission_id":"sub-%s-%d"}`,
		person, tag, person, a, 200+(n/10000)%800, n%10000, tag, i)
}

// senderID is event i's webhook-id header (the sender's message id).
func senderID(tag string, i int) string { return "msg_" + tag + "_" + strconv.Itoa(i) }

// eventID is the Nats-Msg-Id the gateway derives from it.
func eventID(wh webhookRef, tag string, i int) string { return "wh:" + wh.ID + ":" + senderID(tag, i) }

// buildRequests serializes and signs n Standard Webhooks requests for events
// from..from+n-1, spread over whs, for the server at host.
func buildRequests(host string, whs []webhookRef, tag string, from, n int) [][]byte {
	out := make([][]byte, n)
	ts := time.Now()
	tsText := strconv.FormatInt(ts.Unix(), 10)
	parallel(n, func(k int) {
		i := from + k
		wh := whs[i%len(whs)]
		body := leadBody(tag, i)
		id := senderID(tag, i)
		sig := verify.SignStandard(wh.Secret, id, ts, body)
		b := make([]byte, 0, len(body)+320)
		b = fmt.Appendf(b, "POST /webhooks/%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hsbench/1\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\nwebhook-id: %s\r\n"+
			"webhook-timestamp: %s\r\nwebhook-signature: %s\r\n\r\n", wh.ID, host, len(body), id, tsText, sig)
		out[k] = append(b, body...)
	})
	return out
}

// envelope is event i as the gateway would have stored it in INGEST: the
// same subject, headers and body.
func envelope(wh webhookRef, tag string, i int, received time.Time) *nats.Msg {
	m := nats.NewMsg(streams.IngestSubject(streams.SubjectIngestWebhook, wh.ID))
	m.Data = leadBody(tag, i)
	h := m.Header
	h.Set(streams.HdrMsgID, eventID(wh, tag, i))
	h.Set(streams.HdrSource, streams.SourceWebhook)
	h.Set(streams.HdrWebhookID, wh.ID)
	h.Set(streams.HdrWorkspaceID, wh.Workspace)
	h.Set(streams.HdrReceivedAt, received.UTC().Format(time.RFC3339Nano))
	h.Set(streams.HdrRequestID, nuid.Next())
	h.Set(streams.HdrRemoteAddr, "127.0.0.1")
	h.Set(streams.HdrUserAgent, "hsbench/1")
	h.Set(streams.HdrContentType, "application/json")
	return m
}

// parallel runs fn(0..n-1) on every CPU.
func parallel(n int, fn func(i int)) {
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
