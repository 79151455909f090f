// SPDX-License-Identifier: GPL-2.0-or-later

package hostinfo

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Limits of the resolv.conf parser (contract §6.9).
const (
	// MaxNameservers is the number of nameservers kept per family.
	MaxNameservers = 3
	// MaxSearchResolv is the number of search domains taken from
	// resolv.conf.
	MaxSearchResolv = 5
	// maxDomainLen truncates a search domain like passt's fixed
	// NS_MAXDNAME (1025) buffer does.
	maxDomainLen = 1024
)

// DefaultResolvConf is the file passt reads.
const DefaultResolvConf = "/etc/resolv.conf"

// Resolv is the parsed content of resolv.conf (§6.9).
type Resolv struct {
	// Nameservers4 and Nameservers6 are the first MaxNameservers valid
	// nameservers of each family, in file order, zone cut.
	Nameservers4, Nameservers6 []netip.Addr
	// All4 and All6 are all valid nameservers of each family in file
	// order, for callers that drop some (e.g. loopback resolvers without
	// a mapping) and then take further ones up to the limit.
	All4, All6 []netip.Addr
	// Search is the search list from the first "search " line that has
	// at least one domain, at most MaxSearchResolv entries.
	Search []string
}

// ParseResolvConf parses resolv.conf content. A read error ends parsing;
// what was read up to it is returned.
func ParseResolvConf(r io.Reader) Resolv {
	res, _ := parseResolv(r)
	return res
}

// ReadResolvConf opens and parses the file at path (DefaultResolvConf if
// path is empty). On a read error after opening, the lines read so far are
// returned together with the error.
func ReadResolvConf(path string) (Resolv, error) {
	if path == "" {
		path = DefaultResolvConf
	}
	f, err := os.Open(path)
	if err != nil {
		return Resolv{}, err
	}
	defer f.Close()
	return parseResolv(f)
}

func parseResolv(r io.Reader) (Resolv, error) {
	var res Resolv
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			res.parseLine(line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			return res, err
		}
	}
}

func (res *Resolv) parseLine(line string) {
	line = strings.TrimSuffix(line, "\n")
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}

	switch {
	case strings.HasPrefix(line, "nameserver "):
		val := line[strings.LastIndexByte(line, ' ')+1:]
		if i := strings.IndexByte(val, '%'); i >= 0 {
			val = val[:i]
		}
		a, ok := parseInetPton(val)
		if !ok {
			return
		}
		if a.Is4() {
			res.All4 = append(res.All4, a)
			if len(res.Nameservers4) < MaxNameservers {
				res.Nameservers4 = append(res.Nameservers4, a)
			}
		} else {
			res.All6 = append(res.All6, a)
			if len(res.Nameservers6) < MaxNameservers {
				res.Nameservers6 = append(res.Nameservers6, a)
			}
		}
	case strings.HasPrefix(line, "search ") && len(res.Search) == 0:
		toks := strings.FieldsFunc(line, func(r rune) bool {
			return r == ' ' || r == '\t'
		})
		// toks[0] is "search".
		for _, t := range toks[1:] {
			if len(res.Search) == MaxSearchResolv {
				break
			}
			if len(t) > maxDomainLen {
				t = t[:maxDomainLen]
			}
			res.Search = append(res.Search, t)
		}
	}
}

// parseInetPton parses an address as inet_pton(AF_INET) then
// inet_pton(AF_INET6) would: dotted quad without leading zeros, or IPv6
// text without zone. IPv4-mapped IPv6 text stays IPv6.
func parseInetPton(s string) (netip.Addr, bool) {
	if s == "" || strings.ContainsAny(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}
