package browser

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynqmon"

	"github.com/llmq/llmq/internal/proctest"
	"github.com/llmq/llmq/internal/redistest"
)

// startDashboard starts the dashboard binary with the test credentials and
// vars, and waits until /healthz answers on scheme (http or https, with
// client for https).
func startDashboard(t *testing.T, client *http.Client, scheme string, vars ...string) (*proctest.Process, string) {
	t.Helper()
	addr := proctest.FreeAddr(t)
	env := proctest.Environ(append([]string{"DASHBOARD_ADDR=" + addr, "DASHBOARD_USER=" + user, "DASHBOARD_PASSWORD=" + password}, vars...)...)
	d := proctest.Start(t, bin["dashboard"], env)
	proctest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		if d.Exited() {
			t.Fatalf("dashboard exited: %s", d.Stderr.String())
		}
		resp, err := client.Get(scheme + "://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return d, addr
}

// recordingProxy is an HTTP proxy that refuses every request and records
// the host each was for.
type recordingProxy struct {
	mu    sync.Mutex
	hosts []string
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	http.Error(w, "no internet here", http.StatusForbidden)
}

func (p *recordingProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.hosts)
}

// browserServiceHosts are hosts Chromium talks to on its own (component
// updates, sign-in, autofill, safe browsing), whatever the page: requests
// to them do not come from the page.
var browserServiceHosts = []string{
	"update.googleapis.com", "clients2.google.com", "clients1.google.com", "accounts.google.com",
	"content-autofill.googleapis.com", "optimizationguide-pa.googleapis.com", "safebrowsing.googleapis.com",
	"redirector.gvt1.com", "edgedl.me.gvt1.com", "android.clients.google.com",
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// TestDashboardFetchesNothingFromTheInternet opens the dashboard in
// Chromium with every non-loopback request sent to a proxy that records
// it: the dashboard's pages must cause none beyond what the browser asks
// on its own (browserServiceHosts, and what it asks while showing an
// empty local page). The same browser on asynqmon's own, unwrapped
// handler does fetch Google Fonts through the proxy, which shows that the
// proxy sees the page's requests.
func TestDashboardFetchesNothingFromTheInternet(t *testing.T) {
	redis := redistest.Start(t)
	enqueue(t, redis)
	proxy := &recordingProxy{}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	proxyFlag := "--proxy-server=" + ps.URL
	own := map[string]bool{}
	for _, h := range browserServiceHosts {
		own[h] = true
	}

	blank := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>blank</title><p>blank</p>"))
	}))
	t.Cleanup(blank.Close)
	chromium(t, blank.URL+"/", proxyFlag, "--dump-dom")
	for _, h := range proxy.seen() {
		own[hostOnly(h)] = true
	}
	proxy.mu.Lock()
	proxy.hosts = nil
	proxy.mu.Unlock()

	t.Run("asynqmon alone fetches fonts", func(t *testing.T) {
		mon := asynqmon.New(asynqmon.Options{RootPath: "/", RedisConnOpt: redis.ConnOpt()})
		defer mon.Close()
		raw := httptest.NewServer(mon)
		defer raw.Close()
		chromium(t, raw.URL+"/", proxyFlag, "--dump-dom")
		hosts := proxy.seen()
		if !slices.ContainsFunc(hosts, func(h string) bool { return strings.HasPrefix(h, "fonts.googleapis.com") }) {
			t.Fatalf("asynqmon's own page made no request to fonts.googleapis.com through the proxy (saw %v): the proxy does not see the browser's requests", hosts)
		}
	})

	proxy.mu.Lock()
	proxy.hosts = nil
	proxy.mu.Unlock()
	_, addr := startDashboard(t, http.DefaultClient, "http", "REDIS_URL="+redis.URL(), "DASHBOARD_ROOT_PATH="+rootPath)
	authed := "http://" + url.UserPassword(user, password).String() + "@" + addr + rootPath
	for _, page := range []string{"/", "/queues/embeddings?status=pending", "/servers", "/redis"} {
		dom, _ := chromium(t, authed+page, proxyFlag, "--dump-dom")
		if !strings.Contains(dom, `id="root"`) {
			t.Errorf("%s: no page:\n%.1000s", page, dom)
		}
	}
	var fromPage []string
	for _, h := range proxy.seen() {
		if !own[hostOnly(h)] {
			fromPage = append(fromPage, h)
		}
	}
	if len(fromPage) > 0 {
		t.Errorf("the dashboard's pages made requests off this machine, to %v", fromPage)
	}
}

// TestDashboardTLS serves the dashboard binary over HTTPS with a
// certificate made for the test.
func TestDashboardTLS(t *testing.T) {
	redis := redistest.Start(t)
	certFile, keyFile, pool := writeCert(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	_, addr := startDashboard(t, client, "https", "REDIS_URL="+redis.URL(),
		"DASHBOARD_TLS_CERT_FILE="+certFile, "DASHBOARD_TLS_KEY_FILE="+keyFile)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/api/queues", nil)
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || resp.TLS == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /api/queues over TLS: %s %s, Cache-Control %q; want 200 over HTTP/2, no-store", resp.Proto, resp.Status, resp.Header.Get("Cache-Control"))
	}
	if resp, err := client.Get("https://" + addr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz over TLS: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Plain HTTP on the TLS port gets no dashboard.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS listener: %s, want 400", resp.Status)
		}
	}
}

// TestDashboardReadyzBinary starts the binary against a port where no
// Redis listens: it starts and is alive, but not ready, and says so.
func TestDashboardReadyzBinary(t *testing.T) {
	d, addr := startDashboard(t, http.DefaultClient, "http", "REDIS_URL=redis://"+proctest.FreeAddr(t)+"/0")
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz without Redis: %s, want 503", resp.Status)
	}
	proctest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := d.Stderr.String()
		return strings.Contains(s, "dashboard starts, not ready") && strings.Contains(s, "dashboard not ready"), s
	})
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and a pool trusting the certificate.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "llmq dashboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}
