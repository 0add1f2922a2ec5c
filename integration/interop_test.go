package integration

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/internal/storetest"
)

// The interoperability suite: hush, the reference client, against a client
// on the official libsignal (integration/oracle), through a real hushd, on
// SQLite and on PostgreSQL (a fresh database for each run). Each scenario
// is a test of its own with one subtest per store.

// interopCode is the verification code of the suite's test numbers.
const interopCode = "123456"

// interopNumber is the i-th number of the suite's range (0..9).
func interopNumber(i int) string { return fmt.Sprintf("+1555100%04d", i) }

// interop is one run of a scenario: a hushd on a fresh store, the official
// clients' driver, and a directory for hush homes.
type interop struct {
	t     *testing.T
	h     *hushd
	o     *official
	db    string // the PostgreSQL URL; "" for SQLite
	data  string
	homes string
}

// interopStores runs fn on SQLite and on PostgreSQL.
func interopStores(t *testing.T, fn func(t *testing.T, e *interop)) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			e := &interop{t: t, data: t.TempDir(), homes: t.TempDir()}
			// The scenarios register, look up and claim keys far more
			// often than people do: request shaping is off.
			args := []string{"--test-numbers", interopNumber(0) + ".." + interopNumber(9) + "=" + interopCode,
				"--code-rate-number", "0", "--code-rate-address", "0", "--verify-rate-address", "0",
				"--directory-rate", "0", "--bundle-rate", "0", "--send-rate", "0"}
			if store == "postgres" {
				e.db = storetest.PostgresURL(t)
				args = append(args, "--db", e.db)
			}
			e.h = startHushd(t, e.data, args...)
			e.o = startOfficial(t)
			fn(t, e)
		})
	}
}

// home is the hush home directory called name.
func (e *interop) home(name string) string { return filepath.Join(e.homes, name) }

// goRegister registers number i with hush in home and returns the account id.
func (e *interop) goRegister(home string, i int) string {
	e.t.Helper()
	mustHush(e.t, e.h.URL, home, "register", interopNumber(i), "--code", interopCode)
	return e.whoami(home)
}

func (e *interop) whoami(home string) string {
	e.t.Helper()
	return jsonField(e.t, mustHush(e.t, e.h.URL, home, "whoami", "--json"), "account_id")
}

// officialRegister registers number i as the official client who (a new
// identity each time), connected, with prekeys one-time prekeys.
func (e *interop) officialRegister(who string, i, prekeys int) string {
	e.t.Helper()
	var r struct {
		AccountID string `json:"account_id"`
	}
	e.o.do(&r, "register", map[string]any{"who": who, "server": e.h.URL, "number": interopNumber(i), "code": interopCode, "prekeys": prekeys})
	e.o.do(nil, "connect", map[string]any{"who": who})
	return r.AccountID
}

// receive runs `hush receive --json` and returns what it printed and its
// standard error (where warnings go).
func (e *interop) receive(home string) ([]received, string) {
	e.t.Helper()
	r := hush(e.t, e.h.URL, home, "receive", "--json", "--timeout", "1s")
	if r.Code != 0 {
		e.t.Fatalf("hush receive: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	var msgs []received
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			var m received
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				e.t.Fatalf("receive --json line %q: %v", line, err)
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, r.Stderr
}

// readable keeps the messages people read (and sync copies of them).
func readable(ms []received) []received {
	return slices.DeleteFunc(slices.Clone(ms), func(m received) bool {
		return m.Kind != "text" && m.Kind != "location"
	})
}

// goExpect receives in home and checks that exactly want arrived, in any
// order, each from account from (device 1 unless set in dev), in group g.
func (e *interop) goExpect(home, from string, dev uint32, group string, want []string) string {
	e.t.Helper()
	msgs, stderr := e.receive(home)
	got := readable(msgs)
	if dev == 0 {
		dev = 1
	}
	var bodies []string
	for _, m := range got {
		if m.FromAccount != from || m.FromDevice != dev || m.Group != group {
			e.t.Fatalf("message %q from %s.%d in group %q, want from %s.%d in %q", m.Body, m.FromAccount, m.FromDevice, m.Group, from, dev, group)
		}
		bodies = append(bodies, m.Body)
	}
	sameSet(e.t, "hush received (its stderr: "+strings.TrimSpace(stderr)+")", bodies, want)
	return stderr
}

// officialExpect takes len(want) messages in who's inbox and checks them as
// goExpect does; kind is "message" or "sync".
func (e *interop) officialExpect(who, kind, from string, dev uint32, group string, want []string) []officialMessage {
	e.t.Helper()
	var r officialTake
	e.o.do(&r, "take", map[string]any{"who": who, "n": len(want), "timeout_ms": 30000})
	if len(r.Errors) > 0 {
		e.t.Fatalf("official %s could not open %d envelopes: %s", who, len(r.Errors), r.Errors)
	}
	if dev == 0 {
		dev = 1
	}
	var bodies []string
	for _, m := range r.Messages {
		if m.Kind != kind || m.From != from || m.Device != dev || m.Group != group {
			e.t.Fatalf("official %s got %+v, want a %s from %s.%d in group %q", who, m, kind, from, dev, group)
		}
		bodies = append(bodies, m.Body)
	}
	sameSet(e.t, "official "+who+" received", bodies, want)
	return r.Messages
}

// officialNothing checks that nothing readable is waiting in who's inbox.
func (e *interop) officialNothing(who string) {
	e.t.Helper()
	var r struct {
		Inbox  int               `json:"inbox"`
		Errors []json.RawMessage `json:"errors"`
	}
	e.o.do(&r, "settle", map[string]any{"who": who})
	if r.Inbox != 0 || len(r.Errors) != 0 {
		e.t.Fatalf("official %s has %d unexpected messages, errors %s", who, r.Inbox, r.Errors)
	}
}

func (e *interop) officialSend(who, to, text string) {
	e.t.Helper()
	e.o.do(nil, "send_text", map[string]any{"who": who, "to": to, "text": text})
}

func (e *interop) identityChanges(who string) []string {
	e.t.Helper()
	var r struct {
		Changes []string `json:"changes"`
	}
	e.o.do(&r, "identity_changes", map[string]any{"who": who})
	return r.Changes
}

// sameSet fails unless got and want hold the same strings, each once.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		missing, extra := diff(w, g), diff(g, w)
		t.Fatalf("%s %d messages, want %d: missing %q, unexpected or repeated %q", what, len(got), len(want), missing, extra)
	}
}

// diff returns the elements of a (sorted) not matched one to one in b.
func diff(a, b []string) []string {
	left := map[string]int{}
	for _, s := range b {
		left[s]++
	}
	var out []string
	for _, s := range a {
		if left[s] > 0 {
			left[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

// chat sends each line to TO from home in one `hush chat` process.
func (e *interop) chat(home, to string, lines []string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "hush"), "--server", e.h.URL, "--home", home, "chat", to)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n/quit\n")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("hush chat: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	if strings.Contains(errb.String(), "not sent") {
		e.t.Fatalf("hush chat did not send everything:\n%s", errb.String())
	}
}

// shuffled returns a random order of 0..n-1 without drop of them, and the
// indexes left out.
func shuffled(t *testing.T, n, drop int) (order []int, dropped []int) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("order seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>1))
	order = r.Perm(n)
	dropped = slices.Sorted(slices.Values(order[:drop]))
	order = order[drop:]
	return order, dropped
}

// texts returns n message texts with prefix.
func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	return out
}

func pick(all []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

// TestInteropOneToOne: the first message, then 200 more, each way between
// hush and the official client; the official side sends its batch shuffled
// and leaves some out, and decrypts hush's batch shuffled, leaving some out.
func TestInteropOneToOne(t *testing.T) {
	interopStores(t, func(t *testing.T, e *interop) {
		g := e.home("go")
		goAcct := e.goRegister(g, 0)
		oAcct := e.officialRegister("o", 1, 20)
		const n, drop = 200, 20

		// Official to Go.
		e.officialSend("o", goAcct, "o->g first")
		e.goExpect(g, oAcct, 1, "", []string{"o->g first"})
		batch := texts("o->g", n)
		e.o.do(nil, "prepare_texts", map[string]any{"who": "o", "to": goAcct, "texts": batch})
		order, _ := shuffled(t, n, drop)
		e.o.do(nil, "send_prepared", map[string]any{"who": "o", "order": order})
		e.goExpect(g, oAcct, 1, "", pick(batch, order))

		// Go to official.
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "g->o first")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"g->o first"})
		e.o.do(nil, "hold", map[string]any{"who": "o"})
		batch = texts("g->o", n)
		e.chat(g, interopNumber(1), batch)
		waitFor(t, "the official client to hold hush's batch", func() bool {
			var r struct{ Held int }
			e.o.do(&r, "held", map[string]any{"who": "o"})
			return r.Held >= n
		})
		order, _ = shuffled(t, n, drop)
		e.o.do(nil, "release", map[string]any{"who": "o", "order": order})
		e.officialExpect("o", "message", goAcct, 1, "", pick(batch, order))

		// The sessions go on both ways.
		e.officialSend("o", goAcct, "o->g last")
		e.goExpect(g, oAcct, 1, "", []string{"o->g last"})
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "g->o last")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"g->o last"})
	})
}

// TestInteropLastResort: a session starts from a bundle without a one-time
// prekey (the signed prekey and the last-resort PQ prekey only), both ways.
func TestInteropLastResort(t *testing.T) {
	interopStores(t, func(t *testing.T, e *interop) {
		g := e.home("go")
		goAcct := e.goRegister(g, 0)

		// Official to Go: another client uses up hush's one-time prekeys.
		pAcct := e.officialRegister("p", 2, 20)
		var claim struct {
			Claimed   int  `json:"claimed"`
			Exhausted bool `json:"exhausted"`
		}
		e.o.do(&claim, "claim_keys", map[string]any{"who": "p", "account": goAcct})
		if !claim.Exhausted || claim.Claimed == 0 {
			t.Fatalf("hush's one-time prekeys: %+v", claim)
		}
		e.officialSend("p", goAcct, "p->g from the last resort")
		var b struct {
			Bundles []struct {
				Account      string `json:"account"`
				Prekey       bool   `json:"prekey"`
				PQLastResort bool   `json:"pq_last_resort"`
			} `json:"bundles"`
		}
		e.o.do(&b, "bundles", map[string]any{"who": "p"})
		if len(b.Bundles) != 1 || b.Bundles[0].Account != goAcct || b.Bundles[0].Prekey || !b.Bundles[0].PQLastResort {
			t.Fatalf("the official client's bundle of hush: %+v, want one without a one-time prekey, with the last-resort PQ prekey", b.Bundles)
		}
		e.goExpect(g, pAcct, 1, "", []string{"p->g from the last resort"})
		mustHush(t, e.h.URL, g, "send", interopNumber(2), "g->p reply")
		e.officialExpect("p", "message", goAcct, 1, "", []string{"g->p reply"})

		// Go to official: the official client never uploaded one-time keys.
		oAcct := e.officialRegister("o", 1, 0)
		var count struct {
			Prekeys   int `json:"prekeys"`
			PQPrekeys int `json:"pq_prekeys"`
		}
		e.o.do(&count, "key_count", map[string]any{"who": "o"})
		if count.Prekeys != 0 || count.PQPrekeys != 0 {
			t.Fatalf("official key count %+v, want none", count)
		}
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "g->o to the last resort")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"g->o to the last resort"})
		e.officialSend("o", goAcct, "o->g reply")
		e.goExpect(g, oAcct, 1, "", []string{"o->g reply"})
		// A second session on the same last-resort keys (a new home of
		// another number) works too.
		g2 := e.home("go2")
		go2Acct := e.goRegister(g2, 3)
		mustHush(t, e.h.URL, g2, "send", interopNumber(1), "g2->o to the last resort")
		e.officialExpect("o", "message", go2Acct, 1, "", []string{"g2->o to the last resort"})
	})
}

// TestInteropSessionReset: one side registers its number again with a new
// identity (without a registration lock: a new account); the other side,
// writing to the number next, looks it up again, reports the identity
// change, and messaging goes on both ways. Each side does so in turn; then
// each registers again and writes first, and messaging goes on with the
// new accounts.
func TestInteropSessionReset(t *testing.T) {
	interopStores(t, func(t *testing.T, e *interop) {
		g := e.home("go")
		goAcct := e.goRegister(g, 0)
		oAcct := e.officialRegister("o", 1, 20)
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "hello")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"hello"})
		e.officialSend("o", interopNumber(0), "hello back")
		e.goExpect(g, oAcct, 1, "", []string{"hello back"})
		if c := e.identityChanges("o"); len(c) != 0 {
			t.Fatalf("identity changes before any re-registration: %q", c)
		}

		// hush registers again; the official client writes to the number
		// next and reports the new account's key as a change.
		g = e.home("go-2")
		old := goAcct
		if goAcct = e.goRegister(g, 0); goAcct == old {
			t.Fatalf("registering %s again without a registration lock kept account %s", interopNumber(0), old)
		}
		e.officialSend("o", interopNumber(0), "to the new hush")
		if c := e.identityChanges("o"); !slices.Equal(c, []string{goAcct}) {
			t.Fatalf("official identity changes %q, want [%s]", c, goAcct)
		}
		e.goExpect(g, oAcct, 1, "", []string{"to the new hush"})
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "from the new hush")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"from the new hush"})
		if c := e.identityChanges("o"); len(c) != 0 {
			t.Fatalf("official identity changes %q after the first, want none", c)
		}

		// The official client registers again; hush writes to the number
		// next and warns of the change.
		old = oAcct
		if oAcct = e.officialRegister("o", 1, 20); oAcct == old {
			t.Fatalf("registering %s again without a registration lock kept account %s", interopNumber(1), old)
		}
		r := hush(t, e.h.URL, g, "send", interopNumber(1), "to the new official")
		if r.Code != 0 || !identityWarning(r.Stderr) {
			t.Fatalf("hush send after the official re-registered: exit %d, stderr %q (want an identity-change warning)", r.Code, r.Stderr)
		}
		e.officialExpect("o", "message", goAcct, 1, "", []string{"to the new official"})
		e.officialSend("o", interopNumber(0), "from the new official")
		if stderr := e.goExpect(g, oAcct, 1, "", []string{"from the new official"}); identityWarning(stderr) {
			t.Fatalf("hush warned again on receipt: %q", stderr)
		}

		// hush registers again and writes first.
		g = e.home("go-3")
		goAcct = e.goRegister(g, 0)
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "first from hush 3")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"first from hush 3"})
		e.officialSend("o", interopNumber(0), "reply to hush 3")
		e.goExpect(g, oAcct, 1, "", []string{"reply to hush 3"})

		// The official client registers again and writes first.
		oAcct = e.officialRegister("o", 1, 20)
		e.officialSend("o", interopNumber(0), "first from official 3")
		e.goExpect(g, oAcct, 1, "", []string{"first from official 3"})
		mustHush(t, e.h.URL, g, "send", interopNumber(1), "reply to official 3")
		e.officialExpect("o", "message", goAcct, 1, "", []string{"reply to official 3"})
	})
}

// identityWarning reports whether hush's standard error announces an
// identity key change.
func identityWarning(stderr string) bool {
	s := strings.ToLower(stderr)
	return strings.Contains(s, "identity") && strings.Contains(s, "changed")
}

// groupPayloads returns the stored sender-key ciphertexts of group g (the
// shared payloads of group sends that a device has not fetched yet).
func (e *interop) groupPayloads(g string) [][]byte {
	e.t.Helper()
	var out [][]byte
	if e.db != "" {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, e.db)
		if err != nil {
			e.t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT content FROM payloads WHERE group_id::text = $1`, g)
		if err != nil {
			e.t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, b)
		}
		if err := rows.Err(); err != nil {
			e.t.Fatal(err)
		}
		return out
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.data, "hush.db")+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT content FROM payloads WHERE group_id = ?`, g)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

type groupDecryptResult struct {
	Decrypted      bool   `json:"decrypted"`
	Body           string `json:"body"`
	Error          string `json:"error"`
	DistributionID string `json:"distribution_id"`
	ChainID        uint32 `json:"chain_id"`
}

// removedCannotRead runs send, which sends one message to group g from
// from's device 1, and checks that the one ciphertext of g stored since
// (the members' devices are offline) is one the official client who
// cannot decrypt, sent under another sender key than before (old, from
// the messages who got). Ciphertexts stored before send do not count:
// one a device has not fetched yet may still be there.
func (e *interop) removedCannotRead(who, g, from string, old officialMessage, send func()) {
	e.t.Helper()
	before := map[string]bool{}
	for _, b := range e.groupPayloads(g) {
		before[string(b)] = true
	}
	send()
	var p [][]byte
	waitFor(e.t, "one new stored ciphertext of the group, the one just sent", func() bool {
		p = slices.DeleteFunc(e.groupPayloads(g), func(b []byte) bool { return before[string(b)] })
		return len(p) == 1
	})
	var r groupDecryptResult
	e.o.do(&r, "group_decrypt", map[string]any{"who": who, "from": from, "device": 1, "content": base64.StdEncoding.EncodeToString(p[0])})
	if r.Decrypted {
		e.t.Fatalf("the removed member decrypted a message sent after its removal: %q", r.Body)
	}
	if r.DistributionID == old.DistributionID && r.ChainID == old.ChainID {
		e.t.Fatalf("%s sends under the sender key of before the removal (distribution %s, chain %d)", from, r.DistributionID, r.ChainID)
	}
}

// byFrom returns the message from account a in ms.
func byFrom(t *testing.T, ms []officialMessage, a string) officialMessage {
	t.Helper()
	for _, m := range ms {
		if m.From == a {
			return m
		}
	}
	t.Fatalf("no message from %s in %+v", a, ms)
	return officialMessage{}
}

// TestInteropGroups: a group of one official and two hush members with
// sender keys (type 7, distributed 1:1 in the content format). When the
// official member is removed, both hush members rotate and it cannot read
// what they send next; when a hush member is removed, the official member
// and the other hush member rotate, and the removed one gets nothing more.
func TestInteropGroups(t *testing.T) {
	interopStores(t, func(t *testing.T, e *interop) {
		g1, g2 := e.home("g1"), e.home("g2")
		a1, a2 := e.goRegister(g1, 0), e.goRegister(g2, 1)
		oAcct := e.officialRegister("o", 2, 20)

		// Everyone talks in the group.
		gid := jsonField(t, mustHush(t, e.h.URL, g1, "--json", "group", "create", interopNumber(1), interopNumber(2)), "group_id")
		mustHush(t, e.h.URL, g1, "send", "--group", gid, "g1 hello")
		mustHush(t, e.h.URL, g2, "send", "--group", gid, "g2 hello")
		var sent struct {
			Type           int    `json:"type"`
			DistributionID string `json:"distribution_id"`
		}
		e.o.do(&sent, "group_send", map[string]any{"who": "o", "group": gid, "text": "o hello"})
		if sent.Type != 7 {
			t.Fatalf("official group message type %d, want 7 (sender key)", sent.Type)
		}
		got := e.o.take("o", 2)
		if len(got.Errors) > 0 {
			t.Fatalf("official member could not open: %s", got.Errors)
		}
		for _, m := range got.Messages {
			if m.Type != 7 || m.Group != gid {
				t.Fatalf("official member got %+v, want a type 7 message in %s", m, gid)
			}
		}
		sameSet(t, "official member received", []string{got.Messages[0].Body, got.Messages[1].Body}, []string{"g1 hello", "g2 hello"})
		before1, before2 := byFrom(t, got.Messages, a1), byFrom(t, got.Messages, a2)
		e.goGroupExpect(g1, gid, map[string]string{"g2 hello": a2, "o hello": oAcct})
		e.goGroupExpect(g2, gid, map[string]string{"g1 hello": a1, "o hello": oAcct})

		// The official member is removed: both hush members rotate.
		mustHush(t, e.h.URL, g1, "group", "remove", gid, interopNumber(2))
		e.waitRemoved("o", gid)
		e.removedCannotRead("o", gid, a1, before1, func() {
			mustHush(t, e.h.URL, g1, "send", "--group", gid, "g1 after o left")
		})
		e.goGroupExpect(g2, gid, map[string]string{"g1 after o left": a1})
		e.removedCannotRead("o", gid, a2, before2, func() {
			mustHush(t, e.h.URL, g2, "send", "--group", gid, "g2 after o left")
		})
		e.goGroupExpect(g1, gid, map[string]string{"g2 after o left": a2})
		e.officialNothing("o")

		// A second group, where a hush member is removed.
		gid2 := jsonField(t, mustHush(t, e.h.URL, g1, "--json", "group", "create", interopNumber(1), interopNumber(2)), "group_id")
		e.o.do(&sent, "group_send", map[string]any{"who": "o", "group": gid2, "text": "o in two"})
		oldDist := sent.DistributionID
		mustHush(t, e.h.URL, g1, "send", "--group", gid2, "g1 in two")
		before1 = e.officialExpect("o", "message", a1, 1, gid2, []string{"g1 in two"})[0]
		e.goGroupExpect(g1, gid2, map[string]string{"o in two": oAcct})
		e.goGroupExpect(g2, gid2, map[string]string{"o in two": oAcct, "g1 in two": a1})

		mustHush(t, e.h.URL, g1, "group", "remove", gid2, interopNumber(1))
		e.waitChange("o", gid2, "removed")
		e.o.do(&sent, "group_send", map[string]any{"who": "o", "group": gid2, "text": "o after g2 left"})
		if sent.DistributionID == oldDist {
			t.Fatalf("the official member did not rotate its sender key after the removal")
		}
		mustHush(t, e.h.URL, g1, "send", "--group", gid2, "g1 after g2 left")
		after1 := e.officialExpect("o", "message", a1, 1, gid2, []string{"g1 after g2 left"})[0]
		if after1.DistributionID == before1.DistributionID && after1.ChainID == before1.ChainID {
			t.Fatalf("hush member 1 did not rotate its sender key after the removal")
		}
		e.goGroupExpect(g1, gid2, map[string]string{"o after g2 left": oAcct})
		msgs, _ := e.receive(g2)
		if got := readable(msgs); len(got) != 0 {
			t.Fatalf("the removed hush member got %+v after its removal", got)
		}
	})
}

// goGroupExpect receives in home and checks that exactly the texts of want
// (text -> sender account) arrived in group g.
func (e *interop) goGroupExpect(home, g string, want map[string]string) {
	e.t.Helper()
	msgs, _ := e.receive(home)
	got := map[string]string{}
	for _, m := range readable(msgs) {
		if m.Group != g {
			e.t.Fatalf("message %+v outside group %s", m, g)
		}
		if _, dup := got[m.Body]; dup {
			e.t.Fatalf("%q twice", m.Body)
		}
		got[m.Body] = m.FromAccount
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Fatalf("hush received %v in the group, want %v", got, want)
	}
}

// waitChange waits for the official client who to get a group change
// notice with action for group g.
func (e *interop) waitChange(who, g, action string) {
	e.t.Helper()
	waitFor(e.t, "a group change notice", func() bool {
		var r struct {
			Changes []struct {
				GroupID string `json:"group_id"`
				Action  string `json:"action"`
			} `json:"changes"`
		}
		e.o.do(&r, "group_changes", map[string]any{"who": who})
		return slices.ContainsFunc(r.Changes, func(c struct {
			GroupID string `json:"group_id"`
			Action  string `json:"action"`
		}) bool {
			return c.GroupID == g && c.Action == action
		})
	})
}

func (e *interop) waitRemoved(who, g string) { e.waitChange(who, g, "removed") }

// linkOfficial links the official client who to the account of the hush
// home primary and returns its device id.
func (e *interop) linkOfficial(who, primary string) uint32 {
	e.t.Helper()
	var code struct{ Code string }
	e.o.do(&code, "link_start", map[string]any{"who": who, "server": e.h.URL})
	mustHush(e.t, e.h.URL, primary, "approve", code.Code)
	var r struct {
		DeviceID uint32 `json:"device_id"`
	}
	e.o.do(&r, "link_finish", map[string]any{"who": who})
	e.o.do(nil, "connect", map[string]any{"who": who})
	return r.DeviceID
}

// linkGo links a new hush home to the official client who's account.
func (e *interop) linkGo(who, home string) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(bin, "hush"), "--server", e.h.URL, "--home", home, "link")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	code := ""
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "hush-link:") {
			code = line
			break
		}
	}
	if code == "" {
		e.t.Fatalf("hush link printed no code; stderr: %s", stderr.String())
	}
	e.o.do(nil, "approve", map[string]any{"who": who, "code": code})
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()
	if err := cmd.Wait(); err != nil {
		e.t.Fatalf("hush link: %v; stderr: %s", err, stderr.String())
	}
}

// TestInteropMultiDevice: an account with a hush primary and an official
// linked device, and one with an official primary and a hush linked device.
// Messages to the account reach both devices, and each device gets a sync
// copy of what the other sends.
func TestInteropMultiDevice(t *testing.T) {
	interopStores(t, func(t *testing.T, e *interop) {
		// hush primary, official linked device; an official peer.
		gp := e.home("primary")
		acct := e.goRegister(gp, 0)
		peer := e.officialRegister("peer", 1, 20)
		mustHush(t, e.h.URL, gp, "send", interopNumber(1), "before the link")
		e.officialExpect("peer", "message", acct, 1, "", []string{"before the link"})
		dev := e.linkOfficial("linked", gp)
		if dev != 2 {
			t.Fatalf("the linked device has id %d, want 2", dev)
		}

		e.officialSend("peer", acct, "to both devices")
		e.goExpect(gp, peer, 1, "", []string{"to both devices"})
		e.officialExpect("linked", "message", peer, 1, "", []string{"to both devices"})

		mustHush(t, e.h.URL, gp, "send", interopNumber(1), "from the hush primary")
		e.officialExpect("peer", "message", acct, 1, "", []string{"from the hush primary"})
		sync := e.officialExpect("linked", "sync", acct, 1, "", []string{"from the hush primary"})
		if sync[0].Destination != peer {
			t.Fatalf("sync copy names %q, want %s", sync[0].Destination, peer)
		}

		e.officialSend("linked", peer, "from the official linked device")
		e.officialExpect("peer", "message", acct, dev, "", []string{"from the official linked device"})
		msgs, _ := e.receive(gp)
		got := readable(msgs)
		if len(got) != 1 || got[0].Body != "from the official linked device" || got[0].FromAccount != acct ||
			got[0].FromDevice != dev || got[0].SyncTo != peer {
			t.Fatalf("hush primary got %+v, want the sync copy of what device %d sent to %s", got, dev, peer)
		}

		// Official primary, hush linked device; a hush peer.
		op := e.officialRegister("oprimary", 2, 20)
		gpeer := e.home("peer")
		gpeerAcct := e.goRegister(gpeer, 3)
		e.officialSend("oprimary", gpeerAcct, "before the hush link")
		e.goExpect(gpeer, op, 1, "", []string{"before the hush link"})
		gl := e.home("linked")
		e.linkGo("oprimary", gl)
		if me := e.whoami(gl); me != op {
			t.Fatalf("hush linked to %s, want %s", me, op)
		}

		mustHush(t, e.h.URL, gpeer, "send", interopNumber(2), "to the official primary and hush")
		e.officialExpect("oprimary", "message", gpeerAcct, 1, "", []string{"to the official primary and hush"})
		e.goExpect(gl, gpeerAcct, 1, "", []string{"to the official primary and hush"})

		e.officialSend("oprimary", gpeerAcct, "from the official primary")
		e.goExpect(gpeer, op, 1, "", []string{"from the official primary"})
		msgs, _ = e.receive(gl)
		got = readable(msgs)
		if len(got) != 1 || got[0].Body != "from the official primary" || got[0].FromAccount != op ||
			got[0].FromDevice != 1 || got[0].SyncTo != gpeerAcct {
			t.Fatalf("hush linked device got %+v, want the sync copy of what the primary sent to %s", got, gpeerAcct)
		}

		mustHush(t, e.h.URL, gl, "send", interopNumber(3), "from the hush linked device")
		msgs, _ = e.receive(gpeer)
		got = readable(msgs)
		if len(got) != 1 || got[0].Body != "from the hush linked device" || got[0].FromAccount != op || got[0].FromDevice != 2 {
			t.Fatalf("hush peer got %+v", got)
		}
		sync = e.officialExpect("oprimary", "sync", op, 2, "", []string{"from the hush linked device"})
		if sync[0].Destination != gpeerAcct {
			t.Fatalf("sync copy names %q, want %s", sync[0].Destination, gpeerAcct)
		}
	})
}
