// SPDX-License-Identifier: GPL-2.0-or-later

package dhcpv6

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// seedFrames are the committed seeds (testdata/fuzz/FuzzHandle), one per
// message type and a few malformed ones. Regenerate the files with
// DHCPV6_WRITE_SEEDS=1 go test -run TestWriteSeeds ./dhcpv6
func seedFrames() map[string][]byte {
	c := testConfig()
	return map[string][]byte{
		"solicit":        clientFrame(MsgSolicit, 0x111111, optClientID(), optIANA(1), opt{OptORO, []byte{0, 23, 0, 24, 0, 39}}, opt{OptClientFQDN, []byte{1, 0}}),
		"solicit-rapid":  clientFrame(MsgSolicit, 0x222222, optClientID(), optIANA(2), opt{OptRapidCommit, nil}),
		"request":        clientFrame(MsgRequest, 0x333333, optClientID(), optServerID(c), optIANA(3, guestAddr)),
		"renew":          clientFrame(MsgRenew, 0x444444, optClientID(), optServerID(c), optIANA(4, guestAddr)),
		"rebind":         clientFrame(MsgRebind, 0x555555, optClientID(), optIANA(5, guestAddr), optIATA(6)),
		"confirm":        clientFrame(MsgConfirm, 0x666666, optClientID(), optIANA(7, guestAddr)),
		"confirm-bad":    clientFrame(MsgConfirm, 0x666667, optClientID(), optIANA(7, dns1)),
		"info-request":   clientFrame(MsgInfoRequest, 0x777777, optClientID(), opt{OptORO, []byte{0, 23}}),
		"release":        clientFrame(MsgRelease, 0x888888, optClientID(), optServerID(c), optIANA(8, guestAddr)),
		"request-wrong":  clientFrame(MsgRequest, 0x999999, optClientID(), optServerID(c), optIANA(9, dns2), optIATA(10, dns1)),
		"overrun":        udpFrame(guestLL, AllServers, ClientPort, ServerPort, append(message(MsgSolicit, 1, optClientID()), 0, 3, 0, 40)),
		"no-client-id":   clientFrame(MsgSolicit, 0xaaaaaa, optIANA(1)),
		"to-our-ll":      udpFrame(guestLL, ourLL, ClientPort, ServerPort, message(MsgSolicit, 0xbbbbbb, optClientID(), optIANA(11))),
		"ia-two-address": clientFrame(MsgRequest, 0xcccccc, optClientID(), optServerID(c), optIANA(12, guestAddr, guestAddr)),
	}
}

func FuzzHandle(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	c := testConfig()
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := append([]byte(nil), frame...)
		out := Handle(c, frame)
		if string(in) != string(frame) {
			t.Fatal("Handle modified its input")
		}
		if out == nil {
			return
		}
		r, err := parseReply(out)
		if err != nil {
			t.Fatalf("malformed reply: %v\n%x", err, out)
		}
		if r.src != ourLL || r.srcMAC != ourMAC {
			t.Fatalf("reply from %v/%x", r.src, r.srcMAC)
		}
	})
}

// TestWriteSeeds writes seedFrames to testdata/fuzz/FuzzHandle when
// DHCPV6_WRITE_SEEDS=1, and otherwise checks that every seed is committed.
func TestWriteSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	write := os.Getenv("DHCPV6_WRITE_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range seedFrames() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		p := filepath.Join(dir, name)
		if write {
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Errorf("seed %s missing or stale (regenerate with DHCPV6_WRITE_SEEDS=1)", p)
		}
	}
}
