// SPDX-License-Identifier: GPL-2.0-or-later

package dhcp

import (
	"encoding/binary"
	"net/netip"
	"strings"
)

// option is one option of a reply, without its code and length bytes.
type option struct {
	code byte
	data []byte
}

// maxOptionLen is the most an option's length byte can say.
const maxOptionLen = 255

// replyOptions returns the options of a DHCPOFFER or DHCPACK (typ) in
// numerical order. rapid adds the empty Rapid Commit option that marks an
// ACK to a DISCOVER. The domain search list gets whatever room in the
// options field the others leave.
func replyOptions(c *Config, typ int, rapid bool) []option {
	opts := make([]option, 0, 12)
	add := func(code byte, data []byte) { opts = append(opts, option{code, data}) }

	var mask [4]byte
	if c.PrefixLen > 0 {
		mask = prefixMask(c.PrefixLen)
	}
	add(optSubnetMask, mask[:])

	router := c.Router.Is4()
	if router {
		add(optRouter, c.Router.AsSlice())
	}
	var dns []byte
	for _, a := range c.DNS {
		if a.Is4() && !a.IsUnspecified() && len(dns)+4 <= maxOptionLen {
			dns = append(dns, a.AsSlice()...)
		}
	}
	if len(dns) > 0 {
		add(optDNS, dns)
	}
	if n := len(c.Hostname); n > 0 && n <= maxOptionLen {
		add(optHostname, []byte(c.Hostname))
	}
	if c.MTU > 0 && c.MTU <= 0xffff {
		add(optMTU, binary.BigEndian.AppendUint16(nil, uint16(c.MTU)))
	}
	add(optLeaseTime, []byte{0xff, 0xff, 0xff, 0xff}) // infinite
	add(optMessageType, []byte{byte(typ)})
	add(optServerID, c.ServerAddr.AsSlice())
	if rapid {
		add(optRapidCommit, []byte{})
	}
	if c.FQDN != "" {
		if name, ok := encodeName(c.FQDN); ok && 3+len(name) <= maxOptionLen {
			// Flags: E (canonical wire format) only, so the server
			// claims no DNS updates; both RCODEs 255 (RFC 4702 §3.1).
			add(optClientFQDN, append([]byte{0x04, 0xff, 0xff}, name...))
		}
	}
	var routes []byte
	if router && !netip.PrefixFrom(c.GuestAddr, c.PrefixLen).Masked().Contains(c.Router) {
		// RFC 3442 format: prefix length, significant octets of the
		// destination, router. A host route to the router, on-link
		// (router 0.0.0.0), then the default route via the router.
		gw := c.Router.As4()
		routes = append(routes, 32)
		routes = append(routes, gw[:]...)
		routes = append(routes, 0, 0, 0, 0)
		routes = append(routes, 0)
		routes = append(routes, gw[:]...)
	}

	if len(c.Search) > 0 {
		room := maxOptions - 1 // end option
		for _, o := range opts {
			room -= 2 + len(o.data)
		}
		if routes != nil {
			room -= 2 + len(routes)
		}
		room -= 2 // code and length of option 119 itself
		if s := searchList(c.Search, min(room, maxOptionLen)); len(s) > 0 {
			add(optDomainSearch, s)
		}
	}
	if routes != nil {
		add(optStaticRoutes, routes)
	}
	return opts
}

// prefixMask returns the netmask for a prefix length between 1 and 32.
func prefixMask(bits int) [4]byte {
	var m [4]byte
	binary.BigEndian.PutUint32(m[:], ^uint32(0)<<(32-bits))
	return m
}

// serialise lays out the options field: option 53 first unless the client's
// parameter request list (params) names it, then the options params names,
// in its order, then all the others; each option at most once, and one that
// would overflow the field is left out. It appends the end option and pads
// to the BOOTP minimum.
func serialise(opts []option, params []byte) []byte {
	out := make([]byte, 0, maxOptions)
	var sent [256]bool
	put := func(code byte) {
		if sent[code] {
			return
		}
		for _, o := range opts {
			if o.code != code {
				continue
			}
			if len(out)+2+len(o.data) > maxOptions-1 {
				return
			}
			out = append(out, o.code, byte(len(o.data)))
			out = append(out, o.data...)
			sent[code] = true
			return
		}
	}
	requested53 := false
	for _, p := range params {
		requested53 = requested53 || p == optMessageType
	}
	if !requested53 {
		put(optMessageType)
	}
	for _, p := range params {
		put(p)
	}
	for _, o := range opts {
		put(o.code)
	}
	out = append(out, optEnd)
	for len(out) < minOptions {
		out = append(out, optPad)
	}
	return out
}

// splitName splits a domain name into its labels, dropping one trailing
// dot. It rejects empty names and labels, labels longer than 63 bytes and
// names longer than 255 bytes in wire format (RFC 1035 §2.3.4).
func splitName(name string) ([]string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name)+2 > 255 {
		return nil, false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return nil, false
		}
	}
	return labels, true
}

// encodeName returns name in uncompressed DNS wire format: each label
// preceded by its length, then the zero-length root label.
func encodeName(name string) ([]byte, bool) {
	labels, ok := splitName(name)
	if !ok {
		return nil, false
	}
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0), true
}

// searchList encodes the domain search option (RFC 3397): the names one
// after the other in DNS wire format, where a name whose tail (a suffix made
// of whole labels) already appears in the option is cut short by a
// compression pointer to it (RFC 1035 §4.1.4), offsets counting from the
// start of the option data. Invalid names are skipped; the list stops at the
// first name that would take it beyond room bytes.
func searchList(names []string, room int) []byte {
	var out []byte
	type suffix struct {
		name string
		off  int
	}
	known := map[string]int{} // suffix -> offset of its first label
	for _, name := range names {
		labels, ok := splitName(name)
		if !ok {
			continue
		}
		var enc []byte
		var added []suffix
		pointer := false
		for i := range labels {
			tail := strings.Join(labels[i:], ".")
			if off, ok := known[tail]; ok {
				enc = append(enc, 0xc0|byte(off>>8), byte(off))
				pointer = true
				break
			}
			added = append(added, suffix{tail, len(out) + len(enc)})
			enc = append(enc, byte(len(labels[i])))
			enc = append(enc, labels[i]...)
		}
		if !pointer {
			enc = append(enc, 0)
		}
		if len(out)+len(enc) > room {
			break
		}
		out = append(out, enc...)
		for _, s := range added {
			if s.off < 0x4000 {
				known[s.name] = s.off
			}
		}
	}
	return out
}
