// SPDX-License-Identifier: GPL-2.0-or-later

package fwd

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pasta: both families, both protocols, Linux default ephemeral range.
func pastaCtx() Context {
	return Context{
		Pasta: true, IPv4: true, IPv6: true,
		EphemeralFirst: 32768, EphemeralLast: 60999,
		TCPEnabled: true, UDPEnabled: true,
	}
}

func passtCtx() Context {
	c := pastaCtx()
	c.Pasta = false
	return c
}

type opt struct{ opt, spec string }

func ruleStrings(t *Table) []string {
	var s []string
	for _, r := range t.Rules {
		s = append(s, r.String())
	}
	return s
}

func TestParseExamples(t *testing.T) {
	v4only := pastaCtx()
	v4only.IPv6 = false
	v6only := pastaCtx()
	v6only.IPv4 = false
	eph := pastaCtx()
	eph.EphemeralFirst, eph.EphemeralLast = 10000, 20000
	noEph := pastaCtx()
	noEph.EphemeralFirst, noEph.EphemeralLast = 1, 0
	allEph := pastaCtx()
	allEph.EphemeralFirst, allEph.EphemeralLast = 1, 65535
	nobind := pastaCtx()
	nobind.NoBindToDevice = true

	for _, tc := range []struct {
		name string
		ctx  Context
		opts []opt
		want []string
	}{
		// contract §3.3
		{"single", pastaCtx(), []opt{{"-t", "22"}}, []string{"TCP [*]:22  =>  22"}},
		{"translate", pastaCtx(), []opt{{"-t", "22:23"}}, []string{"TCP [*]:22  =>  23"}},
		{"two", pastaCtx(), []opt{{"-t", "22,25"}},
			[]string{"TCP [*]:22  =>  22", "TCP [*]:25  =>  25"}},
		{"range translate", pastaCtx(), []opt{{"-t", "22-80:32-90"}},
			[]string{"TCP [*]:22-80  =>  32-90"}},
		{"address", pastaCtx(), []opt{{"-t", "192.0.2.1/22"}},
			[]string{"TCP [192.0.2.1]:22  =>  22"}},
		{"address device", pastaCtx(), []opt{{"-t", "192.0.2.1%eth0/22"}},
			[]string{"TCP [192.0.2.1]%eth0:22  =>  22"}},
		{"device", pastaCtx(), []opt{{"-t", "%eth0/22"}},
			[]string{"TCP [*]%eth0:22  =>  22"}},
		{"star", pastaCtx(), []opt{{"-t", "*/22"}}, []string{"TCP [*]:22  =>  22"}},
		{"star device", pastaCtx(), []opt{{"-t", "*%eth0/22"}}, []string{"TCP [*]%eth0:22  =>  22"}},
		{"empty listen", pastaCtx(), []opt{{"-t", "/22"}}, []string{"TCP [*]:22  =>  22"}},
		{"bracketed v6", pastaCtx(), []opt{{"-t", "[::1]/22"}}, []string{"TCP [::1]:22  =>  22"}},
		{"bare v6", pastaCtx(), []opt{{"-t", "::1/22"}}, []string{"TCP [::1]:22  =>  22"}},
		{"hole", pastaCtx(), []opt{{"-t", "2000-5000,~3000-3010"}},
			[]string{"TCP [*]:2000-2999  =>  2000-2999", "TCP [*]:3011-5000  =>  3011-5000"}},
		{"exclude single", pastaCtx(), []opt{{"-t", "22,25,~23"}},
			[]string{"TCP [*]:22  =>  22", "TCP [*]:25  =>  25"}},
		{"exclude only", pastaCtx(), []opt{{"-t", "~20000-20010"}}, []string{
			"TCP [*]:1-19999  =>  1-19999  (best effort)",
			"TCP [*]:20011-32767  =>  20011-32767  (best effort)",
			"TCP [*]:61000-65535  =>  61000-65535  (best effort)"}},
		{"all", passtCtx(), []opt{{"-t", "all"}}, []string{
			"TCP [*]:1-32767  =>  1-32767  (best effort)",
			"TCP [*]:61000-65535  =>  61000-65535  (best effort)"}},
		{"all v6 loopback", passtCtx(), []opt{{"-t", "::1/all"}}, []string{
			"TCP [::1]:1-32767  =>  1-32767  (best effort)",
			"TCP [::1]:61000-65535  =>  61000-65535  (best effort)"}},
		{"auto", pastaCtx(), []opt{{"-t", "auto"}}, []string{
			"TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)"}},
		{"range auto", pastaCtx(), []opt{{"-t", "8000-8010,auto"}},
			[]string{"TCP [*]:8000-8010  =>  8000-8010  (auto-scan)"}},
		{"auto first", pastaCtx(), []opt{{"-t", "auto,8000-8010"}},
			[]string{"TCP [*]:8000-8010  =>  8000-8010  (auto-scan)"}},
		{"v6 loopback auto", pastaCtx(), []opt{{"-t", "::1/auto"}}, []string{
			"TCP [::1]:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"TCP [::1]:61000-65535  =>  61000-65535  (best effort) (auto-scan)"}},
		{"target", pastaCtx(), []opt{{"-t", "0.0.0.0/5000:192.0.2.5/6000"}},
			[]string{"TCP [0.0.0.0]:5000  =>  192.0.2.5:6000"}},
		{"outbound", pastaCtx(), []opt{{"-T", "631"}}, []string{"TCP [*]%lo:631  =>  631"}},

		// more grammar
		{"udp", pastaCtx(), []opt{{"-u", "53"}}, []string{"UDP [*]:53  =>  53"}},
		{"udp outbound", pastaCtx(), []opt{{"-U", "53:5353"}}, []string{"UDP [*]%lo:53  =>  5353"}},
		{"long option", pastaCtx(), []opt{{"--udp-ports", "53"}}, []string{"UDP [*]:53  =>  53"}},
		{"strtoul sign", pastaCtx(), []opt{{"-t", "+22"}}, []string{"TCP [*]:22  =>  22"}},
		{"strtoul blanks", pastaCtx(), []opt{{"-t", " 22- 30:\t32-+40"}}, []string{"TCP [*]:22-30  =>  32-40"}},
		{"leading zeros", pastaCtx(), []opt{{"-t", "022-0080:00032-90"}},
			[]string{"TCP [*]:22-80  =>  32-90"}},
		{"max port", pastaCtx(), []opt{{"-t", "65535:1"}}, []string{"TCP [*]:65535  =>  1"}},
		{"translate down", pastaCtx(), []opt{{"-t", "65000-65535:1-536"}},
			[]string{"TCP [*]:65000-65535  =>  1-536"}},
		{"single range form", pastaCtx(), []opt{{"-t", "22-22:23-23"}}, []string{"TCP [*]:22  =>  23"}},
		{"bracketed v4", pastaCtx(), []opt{{"-t", "[192.0.2.1]/22"}},
			[]string{"TCP [192.0.2.1]:22  =>  22"}},
		{"bracketed v6 device", pastaCtx(), []opt{{"-t", "[fe80::1]%eth0/22"}},
			[]string{"TCP [fe80::1]%eth0:22  =>  22"}},
		{"v4-mapped", pastaCtx(), []opt{{"-t", "::ffff:192.0.2.1/22"}},
			[]string{"TCP [192.0.2.1]:22  =>  22"}},
		{"v4-compatible display", pastaCtx(), []opt{{"-t", "::102:304/22"}},
			[]string{"TCP [::1.2.3.4]:22  =>  22"}},
		{"any v4", pastaCtx(), []opt{{"-t", "0.0.0.0/22"}}, []string{"TCP [0.0.0.0]:22  =>  22"}},
		{"any v6", pastaCtx(), []opt{{"-t", "::/22"}}, []string{"TCP [::]:22  =>  22"}},
		{"any v4 and v6", pastaCtx(), []opt{{"-t", "0.0.0.0/22"}, {"-t", "[::]/22"}},
			[]string{"TCP [0.0.0.0]:22  =>  22", "TCP [::]:22  =>  22"}},
		{"ifname odd chars", pastaCtx(), []opt{{"-t", "%a%b.c:d/22"}}, []string{"TCP [*]%a%b.c:d:22  =>  22"}},
		{"ifname 15", pastaCtx(), []opt{{"-t", "%0123456789abcde/22"}},
			[]string{"TCP [*]%0123456789abcde:22  =>  22"}},
		{"target only address", pastaCtx(), []opt{{"-t", "0.0.0.0/22:192.0.2.5"}},
			[]string{"TCP [0.0.0.0]:22  =>  192.0.2.5:22"}},
		{"target range", pastaCtx(), []opt{{"-t", "192.0.2.1/22-24:192.0.2.5/32-34"}},
			[]string{"TCP [192.0.2.1]:22-24  =>  192.0.2.5:32-34"}},
		{"target v6", pastaCtx(), []opt{{"-t", "[2001:db8::1]/22:2001:db8::2/2222"}},
			[]string{"TCP [2001:db8::1]:22  =>  2001:db8::2:2222"}},
		{"target v6 bracketed", pastaCtx(), []opt{{"-t", "::/22:[2001:db8::2]"}},
			[]string{"TCP [::]:22  =>  2001:db8::2:22"}},
		{"target unspecified", pastaCtx(), []opt{{"-t", "22:0.0.0.0/23"}},
			[]string{"TCP [*]:22  =>  23"}},
		{"target v4 single family", v4only, []opt{{"-t", "22:192.0.2.5"}},
			[]string{"TCP [0.0.0.0]:22  =>  192.0.2.5:22"}},
		{"target all", pastaCtx(), []opt{{"-t", "0.0.0.0/all:192.0.2.5,~22"}}, []string{
			"TCP [0.0.0.0]:1-21  =>  192.0.2.5:1-21  (best effort)",
			"TCP [0.0.0.0]:23-32767  =>  192.0.2.5:23-32767  (best effort)",
			"TCP [0.0.0.0]:61000-65535  =>  192.0.2.5:61000-65535  (best effort)"}},
		{"ambiguous v6 listen", pastaCtx(), []opt{{"-t", "80:1::1/80"}},
			[]string{"TCP [80:1::1]:80  =>  80"}},
		{"target not listen", pastaCtx(), []opt{{"-t", "::/80:1::1/80"}}, []string{"TCP [::]:80  =>  1::1:80"}},
		{"bracketed target", v6only, []opt{{"-t", "80:[1::1]/8080"}}, []string{"TCP [::]:80  =>  1::1:8080"}},
		{"all with include is no-op", pastaCtx(), []opt{{"-t", "all,22"}}, []string{"TCP [*]:22  =>  22"}},
		{"auto minus", pastaCtx(), []opt{{"-t", "auto,~22,~80-90"}}, []string{
			"TCP [*]:1-21  =>  1-21  (best effort) (auto-scan)",
			"TCP [*]:23-79  =>  23-79  (best effort) (auto-scan)",
			"TCP [*]:91-32767  =>  91-32767  (best effort) (auto-scan)",
			"TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)"}},
		{"overlapping exclusions", pastaCtx(), []opt{{"-t", "~20-30,10-40,~25-35"}},
			[]string{"TCP [*]:10-19  =>  10-19", "TCP [*]:36-40  =>  36-40"}},
		{"exclusion shifts target", pastaCtx(), []opt{{"-t", "20-30:120-130,~25"}},
			[]string{"TCP [*]:20-24  =>  120-124", "TCP [*]:26-30  =>  126-130"}},
		{"exclusion of everything", pastaCtx(), []opt{{"-t", "22,~22"}}, nil},
		{"exclusion of port 0", pastaCtx(), []opt{{"-t", "~0,22"}}, []string{"TCP [*]:22  =>  22"}},

		// ephemeral range
		{"injected ephemeral", eph, []opt{{"-t", "all"}}, []string{
			"TCP [*]:1-9999  =>  1-9999  (best effort)",
			"TCP [*]:20001-65535  =>  20001-65535  (best effort)"}},
		{"empty ephemeral", noEph, []opt{{"-u", "all"}},
			[]string{"UDP [*]:1-65535  =>  1-65535  (best effort)"}},
		{"everything ephemeral", allEph, []opt{{"-t", "all"}}, nil},
		{"explicit ports in ephemeral", pastaCtx(), []opt{{"-t", "40000"}},
			[]string{"TCP [*]:40000  =>  40000"}},

		// single family
		{"v4 only wildcard", v4only, []opt{{"-t", "22"}}, []string{"TCP [0.0.0.0]:22  =>  22"}},
		{"v6 only wildcard", v6only, []opt{{"-t", "*/22"}}, []string{"TCP [::]:22  =>  22"}},
		{"v4 only outbound", v4only, []opt{{"-T", "631"}}, []string{"TCP [0.0.0.0]%lo:631  =>  631"}},
		{"no bindtodevice outbound", nobind, []opt{{"-T", "631,auto"}},
			[]string{"TCP [127.0.0.1]:631  =>  631  (auto-scan)", "TCP [::1]:631  =>  631  (auto-scan)"}},

		// podman
		{"podman", pastaCtx(), []opt{{"-t", "80-80:80-80"}}, []string{"TCP [*]:80  =>  80"}},
		{"podman v4", pastaCtx(), []opt{{"-t", "127.0.0.1/8080-8080:80-80"}, {"-u", "127.0.0.1/8080-8080:80-80"}},
			[]string{"TCP [127.0.0.1]:8080  =>  80", "UDP [127.0.0.1]:8080  =>  80"}},
		{"podman v6", pastaCtx(), []opt{{"-t", "2001:db8::1/8080-8080:80-80"}},
			[]string{"TCP [2001:db8::1]:8080  =>  80"}},
		{"podman v6 loopback", pastaCtx(), []opt{{"-t", "::1/1234-1234:1234-1234"}},
			[]string{"TCP [::1]:1234  =>  1234"}},
		{"podman range", pastaCtx(), []opt{{"-t", "8000-8009:80-89"}}, []string{"TCP [*]:8000-8009  =>  80-89"}},
		{"podman device", pastaCtx(), []opt{{"--tcp-ports", "127.0.0.1%lo/5000:5001"}},
			[]string{"TCP [127.0.0.1]%lo:5000  =>  5001"}},
		{"podman defaults", pastaCtx(), []opt{{"-t", "80-80:80-80"}, {"-u", "none"}},
			[]string{"TCP [*]:80  =>  80"}},
		{"podman none after none", pastaCtx(), []opt{{"-t", "none"}, {"-t", "none"}}, nil},

		// libvirt
		{"libvirt", passtCtx(), []opt{{"--tcp-ports", "192.0.2.1%eth0/22,~25,30-40:130-140"}}, []string{
			"TCP [192.0.2.1]%eth0:22  =>  22", "TCP [192.0.2.1]%eth0:30-40  =>  130-140"}},
		{"libvirt all", passtCtx(), []opt{{"-t", "%eth0/all"}}, []string{
			"TCP [*]%eth0:1-32767  =>  1-32767  (best effort)",
			"TCP [*]%eth0:61000-65535  =>  61000-65535  (best effort)"}},
		{"libvirt exclusion inside range", passtCtx(), []opt{{"-u", "2001:db8::1/20-30:120-130,~25"}}, []string{
			"UDP [2001:db8::1]:20-24  =>  120-124", "UDP [2001:db8::1]:26-30  =>  126-130"}},

		// QEMU, muvm, slirp4netns.sh
		{"qemu list", passtCtx(), []opt{{"--tcp-ports", "22,80,443"}, {"--udp-ports", "53,5353"}}, []string{
			"TCP [*]:22  =>  22", "TCP [*]:80  =>  80", "TCP [*]:443  =>  443",
			"UDP [*]:53  =>  53", "UDP [*]:5353  =>  5353"}},
		{"muvm", passtCtx(), []opt{{"-t", "10.0.0.1/8000-8010:9000-9010"}},
			[]string{"TCP [10.0.0.1]:8000-8010  =>  9000-9010"}},
		{"slirp4netns.sh", pastaCtx(), []opt{{"-t", "8080:80"}}, []string{"TCP [*]:8080  =>  80"}},

		// rootlesskit
		{"rootlesskit implicit", pastaCtx(), []opt{{"--tcp-ports", "auto"}, {"--udp-ports", "auto"}}, []string{
			"TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)",
			"UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)"}},
		{"rootlesskit none", pastaCtx(), []opt{{"--tcp-ports", "none"}, {"--udp-ports", "none"}}, nil},
		{"rootlesskit outbound default", pastaCtx(), []opt{{"-T", "auto"}}, []string{
			"TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)"}},

		// none ordering
		{"none then port", pastaCtx(), []opt{{"-t", "none"}, {"-t", "80"}}, []string{"TCP [*]:80  =>  80"}},
		{"other proto then none", pastaCtx(), []opt{{"-u", "80"}, {"-t", "none"}}, []string{"UDP [*]:80  =>  80"}},

		// no conflicts
		{"tcp and udp", pastaCtx(), []opt{{"-t", "22"}, {"-u", "22"}},
			[]string{"TCP [*]:22  =>  22", "UDP [*]:22  =>  22"}},
		{"different addresses", pastaCtx(), []opt{{"-t", "192.0.2.1/22"}, {"-t", "192.0.2.2/22"}},
			[]string{"TCP [192.0.2.1]:22  =>  22", "TCP [192.0.2.2]:22  =>  22"}},
		{"v4 any and v6 address", pastaCtx(), []opt{{"-t", "0.0.0.0/22"}, {"-t", "::1/22"}},
			[]string{"TCP [0.0.0.0]:22  =>  22", "TCP [::1]:22  =>  22"}},
		{"adjacent", pastaCtx(), []opt{{"-t", "20-29"}, {"-t", "30-39"}},
			[]string{"TCP [*]:20-29  =>  20-29", "TCP [*]:30-39  =>  30-39"}},
		{"exclusions local to spec", pastaCtx(), []opt{{"-t", "20-30,~25"}, {"-t", "25"}},
			[]string{"TCP [*]:20-24  =>  20-24", "TCP [*]:26-30  =>  26-30", "TCP [*]:25  =>  25"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab Table
			for _, o := range tc.opts {
				if err := tab.Parse(o.opt, o.spec, tc.ctx); err != nil {
					t.Fatalf("Parse(%q, %q): %v", o.opt, o.spec, err)
				}
			}
			if got := ruleStrings(&tab); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rules:\n got %q\nwant %q", got, tc.want)
			}
			checkInvariants(t, &tab)
		})
	}
}

func checkInvariants(t *testing.T, tab *Table) {
	t.Helper()
	for i, r := range tab.Rules {
		if r.First == 0 || r.First > r.Last || int(r.ToFirst)+int(r.Last-r.First) > 65535 || r.ToFirst == 0 {
			t.Errorf("bad rule %d: %+v", i, r)
		}
		for _, o := range tab.Rules[:i] {
			if conflicts(r, o) {
				t.Errorf("conflicting rules in table: %v, %v", r, o)
			}
		}
	}
	if len(tab.Rules) > MaxRules || tab.Sockets() > MaxListenSockets {
		t.Errorf("table over limits: %d rules, %d sockets", len(tab.Rules), tab.Sockets())
	}
}

func TestParseErrors(t *testing.T) {
	v4only := pastaCtx()
	v4only.IPv6 = false
	v6only := pastaCtx()
	v6only.IPv4 = false
	noTCP := pastaCtx()
	noTCP.TCPEnabled = false
	noUDP := pastaCtx()
	noUDP.UDPEnabled = false
	nobind := pastaCtx()
	nobind.NoBindToDevice = true

	many := make([]string, 256)
	for i := range many {
		many[i] = fmt.Sprint(2 * (i + 1))
	}

	invalid := func(spec string) []string { return []string{"Invalid port specifier '" + spec + "'"} }
	for _, tc := range []struct {
		name  string
		ctx   Context
		prior []opt
		opt   string
		spec  string
		want  []string
	}{
		{"empty", pastaCtx(), nil, "-t", "", invalid("")},
		{"word", pastaCtx(), nil, "-t", "x", invalid("x")},
		{"trailing garbage", pastaCtx(), nil, "-t", "22x", invalid("22x")},
		{"trailing comma", pastaCtx(), nil, "-t", "22,", invalid("22,")},
		{"leading comma", pastaCtx(), nil, "-t", ",22", invalid(",22")},
		{"open range", pastaCtx(), nil, "-t", "22-", invalid("22-")},
		{"reversed range", pastaCtx(), nil, "-t", "22-21", invalid("22-21")},
		{"port too big", pastaCtx(), nil, "-t", "65536", invalid("65536")},
		{"huge port", pastaCtx(), nil, "-t", "99999999999999999999999", invalid("99999999999999999999999")},
		{"target too big", pastaCtx(), nil, "-t", "65535:65536", invalid("65535:65536")},
		{"size mismatch", pastaCtx(), nil, "-t", "22:23-25", invalid("22:23-25")},
		{"size mismatch range", pastaCtx(), nil, "-t", "22-24:23-24", invalid("22-24:23-24")},
		{"size mismatch target", pastaCtx(), nil, "-t", "0.0.0.0/22:192.0.2.1/23-24", invalid("22:192.0.2.1/23-24")},
		{"empty target", pastaCtx(), nil, "-t", "22:", invalid("22:")},
		{"negative", pastaCtx(), nil, "-t", "-22", invalid("-22")},
		{"negative target", pastaCtx(), nil, "-t", "22:-23", invalid("22:-23")},
		{"listen part not quoted", pastaCtx(), nil, "-t", "192.0.2.1%eth0/22x", invalid("22x")},
		{"negative zero", pastaCtx(), nil, "-t", "-0", []string{
			"Forwarding rule attempts to map from port 0", "Unable to add rule TCP [*]:0  =>  0"}},
		{"trailing blank", pastaCtx(), nil, "-t", "22 ", invalid("22 ")},
		{"all garbage", pastaCtx(), nil, "-t", "all:foo", invalid("all:foo")},
		{"allx", pastaCtx(), nil, "-t", "allx", invalid("allx")},
		{"none in list", pastaCtx(), nil, "-t", "none,22", invalid("none,22")},
		{"none with listen", pastaCtx(), nil, "-t", "*/none", invalid("none")},
		{"empty ifname", pastaCtx(), nil, "-t", "%/22", invalid("%/22")},
		{"long ifname", pastaCtx(), nil, "-t", "%0123456789abcdef/22", invalid("%0123456789abcdef/22")},
		{"ifname blank", pastaCtx(), nil, "-t", "%eth 0/22", invalid("%eth 0/22")},
		{"bad v4", pastaCtx(), nil, "-t", "999.1.1.1/22", invalid("999.1.1.1/22")},
		{"v4 leading zero", pastaCtx(), nil, "-t", "192.0.2.01/22", invalid("192.0.2.01/22")},
		{"v6 zone", pastaCtx(), nil, "-t", "[fe80::1%eth0]/22", invalid("[fe80::1%eth0]/22")},
		{"unclosed bracket", pastaCtx(), nil, "-t", "[::1/22", invalid("[::1/22")},
		{"address only", pastaCtx(), nil, "-t", "::1", invalid("::1")},
		{"no chunks", pastaCtx(), nil, "-t", "::1/", invalid("")},
		{"double slash", pastaCtx(), nil, "-t", "//22", invalid("/22")},
		{"tilde", pastaCtx(), nil, "-t", "~", invalid("~")},
		{"tilde word", pastaCtx(), nil, "-t", "~x", invalid("~x")},
		{"bad chunk after comma", pastaCtx(), nil, "-t", "22,x", invalid("22,x")},
		{"bad chunk after auto", pastaCtx(), nil, "-t", "auto,x", invalid("auto,x")},
		{"unclosed target bracket", pastaCtx(), nil, "-t", "0.0.0.0/22:[192.0.2.1", invalid("22:[192.0.2.1")},
		{"NONE", pastaCtx(), nil, "-t", "NONE", invalid("NONE")},

		{"dot ifname", pastaCtx(), nil, "-t", "%./22", []string{"Invalid interface name: ."}},
		{"dotdot ifname", pastaCtx(), nil, "-t", "192.0.2.1%../22", []string{"Invalid interface name: .."}},

		{"auto passt", passtCtx(), nil, "-t", "auto", []string{"'auto' port forwarding is only allowed for pasta"}},
		{"auto passt list", passtCtx(), nil, "-u", "22,auto", []string{"'auto' port forwarding is only allowed for pasta"}},
		{"auto passt before bad chunk", passtCtx(), nil, "-t", "auto,x", []string{"'auto' port forwarding is only allowed for pasta"}},
		{"auto passt after garbage", passtCtx(), nil, "-t", "22x,auto", invalid("22x,auto")},

		{"listen T", pastaCtx(), nil, "-T", "127.0.0.1/22", []string{"Listening address not allowed for -T 127.0.0.1/22"}},
		{"listen U empty", pastaCtx(), nil, "-U", "/22", []string{"Listening address not allowed for -U /22"}},
		{"listen T star", pastaCtx(), nil, "-T", "*/22", []string{"Listening address not allowed for -T */22"}},
		{"listen T device", pastaCtx(), nil, "-T", "%lo/22", []string{"Listening address not allowed for -T %lo/22"}},

		{"none after rule", pastaCtx(), []opt{{"-t", "80"}}, "-t", "none", []string{"-t none conflicts with previous options"}},
		{"none after udp", pastaCtx(), []opt{{"-u", "53"}}, "-u", "none", []string{"-u none conflicts with previous options"}},
		{"none after outbound", pastaCtx(), []opt{{"-T", "80"}}, "-T", "none", []string{"-T none conflicts with previous options"}},
		{"none after auto", pastaCtx(), []opt{{"-U", "auto"}}, "-U", "none", []string{"-U none conflicts with previous options"}},

		{"from port 0", pastaCtx(), nil, "-t", "0", []string{
			"Forwarding rule attempts to map from port 0", "Unable to add rule TCP [*]:0  =>  0"}},
		{"from port 0 range", pastaCtx(), nil, "-t", "0-10:100-110", []string{
			"Forwarding rule attempts to map from port 0", "Unable to add rule TCP [*]:0-10  =>  100-110"}},
		{"to port 0", pastaCtx(), nil, "-t", "22:0", []string{
			"Forwarding rule attempts to map to port 0", "Unable to add rule TCP [*]:22  =>  0"}},

		{"conflict in spec", pastaCtx(), nil, "-t", "22,22", []string{
			"Forwarding configuration conflict: TCP [*]:22  =>  22 versus TCP [*]:22  =>  22",
			"Unable to add rule TCP [*]:22  =>  22"}},
		{"conflict across options", pastaCtx(), []opt{{"-t", "20-30"}}, "-t", "192.0.2.1/25", []string{
			"Forwarding configuration conflict: TCP [192.0.2.1]:25  =>  25 versus TCP [*]:20-30  =>  20-30",
			"Unable to add rule TCP [192.0.2.1]:25  =>  25"}},
		{"conflict v4 any", pastaCtx(), []opt{{"-t", "0.0.0.0/22"}}, "-t", "192.0.2.1/20-30:40-50", []string{
			"Forwarding configuration conflict: TCP [192.0.2.1]:20-30  =>  40-50 versus TCP [0.0.0.0]:22  =>  22",
			"Unable to add rule TCP [192.0.2.1]:20-30  =>  40-50"}},
		{"conflict v6 any", pastaCtx(), []opt{{"-u", "::1/53"}}, "-u", "[::]/53", []string{
			"Forwarding configuration conflict: UDP [::]:53  =>  53 versus UDP [::1]:53  =>  53",
			"Unable to add rule UDP [::]:53  =>  53"}},
		{"conflict same address", pastaCtx(), []opt{{"-t", "192.0.2.1/22"}}, "-t", "192.0.2.1/22:23", []string{
			"Forwarding configuration conflict: TCP [192.0.2.1]:22  =>  23 versus TCP [192.0.2.1]:22  =>  22",
			"Unable to add rule TCP [192.0.2.1]:22  =>  23"}},
		{"conflict ifname ignored", pastaCtx(), []opt{{"-t", "%eth0/22"}}, "-t", "%eth1/22", []string{
			"Forwarding configuration conflict: TCP [*]%eth1:22  =>  22 versus TCP [*]%eth0:22  =>  22",
			"Unable to add rule TCP [*]%eth1:22  =>  22"}},
		{"conflict with all", pastaCtx(), []opt{{"-t", "all"}}, "-t", "::1/80", []string{
			"Forwarding configuration conflict: TCP [::1]:80  =>  80 versus TCP [*]:1-32767  =>  1-32767  (best effort)",
			"Unable to add rule TCP [::1]:80  =>  80"}},
		{"conflict outbound", pastaCtx(), []opt{{"-T", "auto"}}, "-T", "631", []string{
			"Forwarding configuration conflict: TCP [*]%lo:631  =>  631 versus TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)",
			"Unable to add rule TCP [*]%lo:631  =>  631"}},

		{"dual stack v4 target", pastaCtx(), nil, "-t", "22:192.0.2.5", []string{
			"Dual stack forward to IPv4 address 192.0.2.5 unsupported",
			"Did you mean 0.0.0.0/... instead?",
			"Unable to add rule TCP [*]:22  =>  192.0.2.5:22"}},
		{"dual stack v6 target", pastaCtx(), nil, "-t", "*/22:2001:db8::5/80", []string{
			"Dual stack forward to IPv6 address 2001:db8::5 unsupported",
			"Did you mean [::]/... instead?",
			"Unable to add rule TCP [*]:22  =>  2001:db8::5:80"}},
		{"dual stack all target", pastaCtx(), nil, "-t", "all:192.0.2.5", []string{
			"Dual stack forward to IPv4 address 192.0.2.5 unsupported",
			"Did you mean 0.0.0.0/... instead?",
			"Unable to add rule TCP [*]:1-32767  =>  192.0.2.5:1-32767  (best effort)"}},
		{"multicast target", pastaCtx(), nil, "-t", "0.0.0.0/22:224.0.0.1", []string{
			"Multicast target address 224.0.0.1 for forwarding rule",
			"Unable to add rule TCP [0.0.0.0]:22  =>  224.0.0.1:22"}},
		{"multicast v6 target", pastaCtx(), nil, "-u", "::/22:[ff02::1]", []string{
			"Multicast target address ff02::1 for forwarding rule",
			"Unable to add rule UDP [::]:22  =>  ff02::1:22"}},
		{"family mismatch", pastaCtx(), nil, "-t", "0.0.0.0/22:[2001:db8::5]", []string{
			"Forward from IPv4 (0.0.0.0) to IPv6 (2001:db8::5) unsupported",
			"Unable to add rule TCP [0.0.0.0]:22  =>  2001:db8::5:22"}},

		{"tcp disabled", noTCP, nil, "-t", "22", []string{
			"Can't add TCP forwarding rule, TCP not enabled", "Unable to add rule TCP [*]:22  =>  22"}},
		{"udp disabled", noUDP, nil, "-U", "auto", []string{
			"Can't add UDP forwarding rule, UDP not enabled",
			"Unable to add rule UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)"}},
		{"v4 disabled", v6only, nil, "-t", "192.0.2.1/22", []string{
			"IPv4 forward, but IPv4 not enabled", "Unable to add rule TCP [192.0.2.1]:22  =>  22"}},
		{"v6 disabled", v4only, nil, "-t", "::1/22", []string{
			"IPv6 forward, but IPv6 not enabled", "Unable to add rule TCP [::1]:22  =>  22"}},
		{"device binding", nobind, nil, "-t", "%eth0/22", []string{
			"Device binding for '-t %eth0/22' unsupported (requires kernel 5.7+)"}},

		{"too many rules", pastaCtx(), nil, "-t", strings.Join(many, ","), []string{
			"Too many rules (maximum 255)", "Unable to add rule TCP [*]:512  =>  512"}},
		{"too many rules across", pastaCtx(), []opt{{"-t", strings.Join(many[:200], ",")}},
			"-u", strings.Join(many[:56], ","), []string{
				"Too many rules (maximum 255)", "Unable to add rule UDP [*]:112  =>  112"}},
		{"too many sockets", pastaCtx(), []opt{
			{"-t", "192.0.2.1/1-65535"}, {"-t", "192.0.2.2/1-65535"}, {"-t", "192.0.2.3/1-65535"},
			{"-t", "192.0.2.4/1-65535"}, {"-t", "::1/1-65535"}}, "-u", "1-6", []string{
			"Rules require too many listening sockets (maximum 327680)",
			"Unable to add rule UDP [*]:1-6  =>  1-6"}},

		{"unknown option", pastaCtx(), nil, "-x", "22", []string{`fwd: unknown forwarding option "-x"`}},
		{"direction mismatch", pastaCtx(), []opt{{"-t", "22"}}, "-T", "22", []string{"fwd: -T rules can't be added to the HOST table"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab Table
			for _, o := range tc.prior {
				if err := tab.Parse(o.opt, o.spec, tc.ctx); err != nil {
					t.Fatalf("Parse(%q, %q): %v", o.opt, o.spec, err)
				}
			}
			before := append([]Rule(nil), tab.Rules...)
			err := tab.Parse(tc.opt, tc.spec, tc.ctx)
			if err == nil {
				t.Fatalf("Parse(%q, %q) succeeded: %q", tc.opt, tc.spec, ruleStrings(&tab))
			}
			fe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if got := fe.Lines(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("error lines:\n got %q\nwant %q", got, tc.want)
			}
			if err.Error() != strings.Join(tc.want, "\n") {
				t.Errorf("Error() = %q", err.Error())
			}
			if !reflect.DeepEqual(tab.Rules, before) {
				t.Errorf("failed Parse changed the table: %q", ruleStrings(&tab))
			}
		})
	}
}

// "too many sockets" above: 5 × 65535 = 327675 ports are in use, so a
// rule of 5 more fits exactly and one of 6 doesn't; check the boundary.
func TestSocketLimitBoundary(t *testing.T) {
	var tab Table
	ctx := pastaCtx()
	for _, s := range []string{"192.0.2.1/1-65535", "192.0.2.2/1-65535", "192.0.2.3/1-65535", "192.0.2.4/1-65535", "::1/1-65535"} {
		if err := tab.Parse("-t", s, ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.Parse("-u", "1-5", ctx); err != nil {
		t.Fatalf("5 more sockets should fit: %v", err)
	}
	if tab.Sockets() != MaxListenSockets {
		t.Fatalf("Sockets() = %d", tab.Sockets())
	}
	if err := tab.Parse("-u", "6", ctx); err == nil {
		t.Fatal("one socket over the limit accepted")
	}
}

func TestBindToDeviceWarning(t *testing.T) {
	ctx := pastaCtx()
	ctx.NoBindToDevice = true
	var warnings []string
	ctx.Warn = func(s string) { warnings = append(warnings, s) }
	var tab Table
	if err := tab.Parse("-U", "auto", ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"SO_BINDTODEVICE unavailable, forwarding only 127.0.0.1 and ::1 for '-U auto'"}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings %q, want %q", warnings, want)
	}
	wantRules := []string{
		"UDP [127.0.0.1]:1-32767  =>  1-32767  (best effort) (auto-scan)",
		"UDP [127.0.0.1]:61000-65535  =>  61000-65535  (best effort) (auto-scan)",
		"UDP [::1]:1-32767  =>  1-32767  (best effort) (auto-scan)",
		"UDP [::1]:61000-65535  =>  61000-65535  (best effort) (auto-scan)",
	}
	if got := ruleStrings(&tab); !reflect.DeepEqual(got, wantRules) {
		t.Errorf("rules %q, want %q", got, wantRules)
	}
	if tab.Dir != Outbound {
		t.Errorf("Dir = %v", tab.Dir)
	}
}

func TestRuleFields(t *testing.T) {
	var tab Table
	ctx := pastaCtx()
	if err := tab.Parse("-t", "192.0.2.1%eth0/22-24:192.0.2.5/32-34", ctx); err != nil {
		t.Fatal(err)
	}
	if err := tab.Parse("-t", "8000-8010,auto", ctx); err != nil {
		t.Fatal(err)
	}
	want := []Rule{{
		Proto: TCP, Addr: netip.MustParseAddr("192.0.2.1"), Ifname: "eth0",
		First: 22, Last: 24, ToFirst: 32, Target: netip.MustParseAddr("192.0.2.5"),
	}, {
		Proto: TCP, First: 8000, Last: 8010, ToFirst: 8000, Scan: true,
	}}
	if !reflect.DeepEqual(tab.Rules, want) {
		t.Fatalf("rules %+v, want %+v", tab.Rules, want)
	}
	r := tab.Rules[0]
	if r.ToLast() != 34 || r.Ports() != 3 || r.MapPort(23) != 33 || r.DualStack() || r.Wildcard() {
		t.Errorf("rule helpers wrong for %v", r)
	}
	if !tab.Rules[1].DualStack() || !tab.Rules[1].Wildcard() {
		t.Errorf("rule helpers wrong for %v", tab.Rules[1])
	}
	for _, tc := range []struct {
		proto Proto
		addr  string
		port  uint16
		want  int
	}{
		{TCP, "192.0.2.1", 23, 0},
		{TCP, "::ffff:192.0.2.1", 23, 0},
		{TCP, "192.0.2.2", 23, -1},
		{UDP, "192.0.2.1", 23, -1},
		{TCP, "2001:db8::1", 8005, 1},
		{TCP, "", 8010, 1},
		{TCP, "192.0.2.1", 8011, -1},
	} {
		var a netip.Addr
		if tc.addr != "" {
			a = netip.MustParseAddr(tc.addr)
		}
		if got := tab.Search(tc.proto, a, tc.port); got != tc.want {
			t.Errorf("Search(%v, %s, %d) = %d, want %d", tc.proto, tc.addr, tc.port, got, tc.want)
		}
	}
	if !tab.HasProto(TCP) || tab.HasProto(UDP) {
		t.Error("HasProto wrong")
	}
	wantLines := []string{
		"Inbound forwarding rules (HOST):",
		"    TCP [192.0.2.1]%eth0:22-24  =>  192.0.2.5:32-34",
		"    TCP [*]:8000-8010  =>  8000-8010  (auto-scan)",
	}
	if got := tab.Lines(); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("Lines() = %q", got)
	}
	if Outbound.Header() != "Outbound forwarding rules (SPLICE):" || Outbound.String() != "SPLICE" ||
		Inbound.String() != "HOST" || TCP.String() != "TCP" || UDP.String() != "UDP" {
		t.Error("names wrong")
	}
}

func TestAdd(t *testing.T) {
	var tab Table
	ctx := pastaCtx()
	if err := tab.Add(Rule{Proto: UDP, First: 53, Last: 53, ToFirst: 53}, ctx); err != nil {
		t.Fatal(err)
	}
	err := tab.Add(Rule{Proto: UDP, Addr: netip.MustParseAddr("::1"), First: 50, Last: 60, ToFirst: 65530}, ctx)
	want := "Forwarding rule attempts to map to port 0\nUnable to add rule UDP [::1]:50-60  =>  65530-4"
	if err == nil || err.Error() != want {
		t.Fatalf("wrap: got %v, want %q", err, want)
	}
	err = tab.Add(Rule{Proto: UDP, Addr: netip.MustParseAddr("::1"), First: 50, Last: 60, ToFirst: 50}, ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "Forwarding configuration conflict: ") {
		t.Fatalf("conflict: got %v", err)
	}
	err = tab.Add(Rule{Proto: UDP, First: 60, Last: 50, ToFirst: 50}, ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "Rule has invalid port range 60-50\n") {
		t.Fatalf("reversed: got %v", err)
	}
	if len(tab.Rules) != 1 {
		t.Fatalf("rules %v", tab.Rules)
	}
}

func TestEphemeralRange(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		path        string
		first, last uint16
		warning     string
	}{
		{write("ok", "32768\t60999\n"), 32768, 60999, ""},
		{write("nonl", "1024\t65535"), 1024, 65535, ""},
		{write("reversed", "2000\t1000\n"), 2000, 1000, ""},
		{write("second line", "10000\t20000\njunk\n"), 10000, 20000, ""},
		{missing, 49152, 65535, "Unable to open " + missing + ": No such file or directory"},
		{write("space", "32768 60999\n"), 49152, 65535, "Unable to parse " + dir + "/space"},
		{write("big", "32768\t65536\n"), 49152, 65535, "Unable to parse " + dir + "/big"},
		{write("empty", ""), 49152, 65535, "Unable to parse " + dir + "/empty"},
		{write("trailing", "1\t2 \n"), 49152, 65535, "Unable to parse " + dir + "/trailing"},
		{dir, 49152, 65535, "Unable to parse " + dir},
	} {
		f, l, w := EphemeralRange(tc.path)
		if f != tc.first || l != tc.last || w != tc.warning {
			t.Errorf("EphemeralRange(%s) = %d, %d, %q; want %d, %d, %q",
				tc.path, f, l, w, tc.first, tc.last, tc.warning)
		}
	}
	if _, err := os.Stat(PortRangeSysctl); err == nil {
		if f, l, w := EphemeralRange(PortRangeSysctl); w != "" || f == 0 || l == 0 {
			t.Errorf("EphemeralRange(%s) = %d, %d, %q", PortRangeSysctl, f, l, w)
		}
	}
}

// FuzzParse checks that Parse never panics, that accepted rules are
// well-formed and conflict-free, and that a failed Parse leaves the table
// unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"22", "22:23", "22,25", "22-80:32-90", "192.0.2.1/22", "192.0.2.1%eth0/22",
		"%eth0/22", "*/22", "[::1]/22", "::1/22", "2000-5000,~3000-3010", "22,25,~23",
		"~20000-20010", "all", "::1/all", "auto", "8000-8010,auto", "none",
		"0.0.0.0/5000:192.0.2.5/6000", "80-80:80-80", "127.0.0.1/8080-8080:80-80",
		"2001:db8::1/8080-8080:80-80", "::1/1234-1234:1234-1234",
		"192.0.2.1%eth0/22,~25,30-40:130-140", "%eth0/all", "0", "22:0", "65535:65535",
		"80:1::1/80", "all:192.0.2.5",
	} {
		for o := range uint8(4) {
			f.Add(o, uint8(0x07), s)
		}
	}
	opts := []string{"-t", "-u", "-T", "-U"}
	f.Fuzz(func(t *testing.T, o, flags uint8, spec string) {
		ctx := Context{
			Pasta: flags&1 != 0, IPv4: flags&2 != 0, IPv6: flags&4 != 0,
			NoBindToDevice: flags&8 != 0,
			TCPEnabled:     flags&16 == 0, UDPEnabled: flags&32 == 0,
			EphemeralFirst: 32768, EphemeralLast: 60999,
		}
		var tab Table
		opt := opts[o%4]
		// A prior rule, to exercise conflicts.
		_ = tab.Parse(opt, "1000-1010", ctx)
		before := append([]Rule(nil), tab.Rules...)
		if err := tab.Parse(opt, spec, ctx); err != nil {
			if !reflect.DeepEqual(before, tab.Rules) {
				t.Fatalf("failed Parse(%q) changed the table", spec)
			}
			_ = err.Error()
			return
		}
		for _, r := range tab.Rules {
			if r.First < 1 || r.First > r.Last || int(r.ToFirst)+int(r.Last-r.First) > 65535 {
				t.Fatalf("Parse(%q): bad rule %+v", spec, r)
			}
			_ = r.String()
		}
		checkInvariants(t, &tab)
	})
}
