package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is pipelinetest's env without a gateway; logs are also kept (JSON,
// debug and up) for tests that read them. pipelinetest imports the pipeline,
// which imports this package: tests using env are the external package
// notify_test.
type env struct {
	*pipelinetest.Env
	t    *testing.T
	js   jetstream.JetStream
	db   *pgxpool.Pool
	logs *lockedBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	logs := &lockedBuffer{}
	pe := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true, LogLevel: slog.LevelDebug,
		Logs: slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	return &env{Env: pe, t: t, js: pe.JS, db: pe.DB, logs: logs}
}

// start runs the notifier's processors until the test ends (or stop).
func (e *env) start(cfg notify.Config) (n *notify.Notifier, stop func()) {
	e.t.Helper()
	n, err := notify.New(e.Deps(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	run := e.Start(n.Processors()...)
	return n, func() {
		if err := run.Stop(); err != nil {
			e.t.Error(err)
		}
	}
}

// publish puts a domain event on EVENTS as the contacts/boards/payments
// processors do (headers included).
func (e *env) publish(subject, msgID, source, workspace string, body any) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = b
	m.Header.Set(streams.HdrMsgID, msgID)
	m.Header.Set(streams.HdrCausationID, source)
	m.Header.Set(streams.HdrWorkspaceID, workspace)
	m.Header.Set(streams.HdrReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	e.Publish(m)
}

func contactEvent(src string, c events.Contact) events.ContactChanged {
	return events.ContactChanged{Origin: events.Origin{SourceEventID: src, Source: "webhook", WebhookID: "wh_test",
		ReceivedAt: time.Now().UTC()}, Contact: c, MatchType: "new", IsNewContact: true, LeadID: "ld_" + src}
}

func (e *env) publishContact(ws, src string, c events.Contact) {
	e.t.Helper()
	c.WorkspaceID = ws
	e.publish(streams.SubjectContactCreated, "contact:"+src, src, ws, contactEvent(src, c))
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	return e.Count(sql, args...)
}

func (e *env) addRule(r notify.Rule) *notify.Rule {
	e.t.Helper()
	out, err := (&notify.Rules{DB: e.db}).Add(context.Background(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --- a real SMTP server (emersion/go-smtp) ---------------------------------

type smtpServer struct {
	Addr   string
	CAPool *x509.CertPool
	User   string
	Pass   string
	// Fail, when set, answers DATA with this error (e.g. a 451 or 554).
	mu   sync.Mutex
	fail *smtp.SMTPError
	msgs []notify.MailMsg
}

func (s *smtpServer) setFail(e *smtp.SMTPError) { s.mu.Lock(); s.fail = e; s.mu.Unlock() }

func (s *smtpServer) messages() []notify.MailMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.MailMsg(nil), s.msgs...)
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	cert, pool := selfSigned(t)
	srv := &smtpServer{CAPool: pool, User: "mailer", Pass: "s3cret-smtp-pass"}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: srv, conn: c}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.AllowInsecureAuth = false // AUTH only after STARTTLS
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return srv
}

func (s *smtpServer) config() *notify.SMTPConfig {
	host, port, _ := net.SplitHostPort(s.Addr)
	return &notify.SMTPConfig{Host: host, Port: port, Username: s.User, Password: s.Pass, TLS: &tls.Config{RootCAs: s.CAPool}}
}

type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.User || password != s.srv.Pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !strings.Contains(to, "@") {
		return &smtp.SMTPError{Code: 553, Message: "bad address"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	fail := s.srv.fail
	s.srv.mu.Unlock()
	if fail != nil {
		return fail
	}
	m, err := notify.ParseMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message: " + err.Error()}
	}
	_, m.TLS = s.conn.TLSConnectionState()
	m.From, m.To, m.User = s.from, s.to, s.user
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, *m)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// --- Slack and Twilio ------------------------------------------------------

// slackServer accepts what a Slack incoming webhook accepts: POST of a JSON
// object with a non-empty "text"; anything else is a 400 like Slack's
// "invalid_payload".
type slackServer struct {
	*httptest.Server
	mu     sync.Mutex
	texts  []string
	status int // answer with this status when non-zero
	calls  int
}

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		status := s.status
		s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/services/T000/B000/XXXXsecretXXXX" {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		var body struct {
			Text *string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == nil || *body.Text == "" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		if status != 0 {
			http.Error(w, "internal_error", status)
			return
		}
		s.mu.Lock()
		s.texts = append(s.texts, *body.Text)
		s.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slackServer) URL() string { return s.Server.URL + "/services/T000/B000/XXXXsecretXXXX" }

func (s *slackServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

func (s *slackServer) callCount() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

func (s *slackServer) setStatus(code int) { s.mu.Lock(); s.status = code; s.mu.Unlock() }

type sms struct{ To, From, Body string }

// twilioServer checks a Messages.json request like Twilio: basic auth with
// the account SID and token, form-encoded To/From/Body, 201 with the
// message resource.
type twilioServer struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []sms
}

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "twilio-auth-token-secret"
	testFrom  = "+15005550006"
)

func newTwilioServer(t *testing.T) *twilioServer {
	s := &twilioServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":20404,"message":"The requested resource was not found","status":404}`)
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != testSID || p != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":21601,"message":"bad content type","status":400}`)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m := sms{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body")}
		if !strings.HasPrefix(m.To, "+") || m.From == "" || m.Body == "" || len([]rune(m.Body)) > 1600 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"code":21211,"message":"The 'To' number %s is not a valid phone number.","status":400}`, m.To)
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		n := len(s.msgs)
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q,"from":%q,"error_code":null}`, n, m.To, m.From)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *twilioServer) messages() []sms {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sms(nil), s.msgs...)
}

func (s *twilioServer) config() *notify.TwilioConfig {
	return &notify.TwilioConfig{APIURL: s.Server.URL, AccountSID: testSID, AuthToken: testToken, From: testFrom}
}
