// SPDX-License-Identifier: GPL-2.0-or-later

package benchreport

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
)

// Chart geometry, in SVG user units (pixels).
const (
	chartTop      = 86.0
	chartHeight   = 320.0
	chartLeft     = 64.0
	chartRight    = 24.0
	chartBottom   = 96.0
	barWidth      = 20.0
	barGap        = 3.0
	groupPadding  = 40.0
	minChartWidth = 640.0
)

var toolColors = map[string]string{Ours: "#1f77b4", Upstream: "#ff7f0e", Slirp: "#2ca02c"}

const ceilingColor = "#d62728"

// chartGroup is one path and MTU: a bar per tool and the loopback ceiling.
type chartGroup struct {
	path    string
	mtu     int
	series  []Series // per chart tool
	present []bool
	ceiling Series
}

// SVG draws throughput per path and MTU for one protocol as a grouped bar
// chart on a logarithmic axis (the figures span three orders of magnitude):
// one bar per tool at its median, a whisker from the slowest to the fastest
// run, "n/a" where a tool has no figure, and the loopback ceiling as a
// dashed line over each group. It returns nil if the protocol has no rows.
func (r *Results) SVG(proto string) []byte {
	tools := r.chartTools(proto)
	var groups []chartGroup
	for _, path := range ThroughputPaths {
		for _, mtu := range MTUs {
			g := chartGroup{path: path, mtu: mtu}
			any := false
			for _, tool := range tools {
				s, ok := r.FindThroughput(proto, path, mtu, tool)
				g.series = append(g.series, s)
				g.present = append(g.present, ok)
				any = any || ok
			}
			if any {
				g.ceiling, _ = r.LoopbackThroughput(proto, r.udpLen(proto, mtu))
				groups = append(groups, g)
			}
		}
	}
	if len(groups) == 0 {
		return nil
	}

	lo, hi := axisRange(groups)
	groupWidth := float64(len(tools))*(barWidth+barGap) - barGap + groupPadding
	width := math.Max(minChartWidth, chartLeft+chartRight+float64(len(groups))*groupWidth)
	height := chartTop + chartHeight + chartBottom
	y := func(v float64) float64 {
		v = math.Max(v, lo)
		return chartTop + chartHeight - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*chartHeight
	}

	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title := fmt.Sprintf("%s throughput per path and MTU, %s, log scale",
		map[string]string{ProtoTCP: "TCP", ProtoUDP: "UDP"}[proto], unitGbps)
	sub := fmt.Sprintf("bars: median of %s; whiskers: slowest to fastest run", plural(r.Settings.Runs, "run"))
	if proto == ProtoUDP {
		sub += fmt.Sprintf("; %d-byte datagrams at MTU 1500, %d-byte ones at 65520", r.Settings.UDPLenMTU1500, r.Settings.UDPLenMTU64K)
	}
	p(`<text x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", chartLeft, esc(title))
	p(`<text x="%.0f" y="36">%s</text>`+"\n", chartLeft, esc(sub))
	p(`<text x="%.0f" y="52" fill="#555">%s</text>`+"\n", chartLeft,
		esc(fmt.Sprintf("%s, %d cores, kernel %s, %s", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Date.Format("2006-01-02"))))

	// Legend.
	lx := chartLeft
	for _, tool := range tools {
		p(`<rect x="%.0f" y="62" width="12" height="12" fill="%s"/>`, lx, toolColors[tool])
		p(`<text x="%.0f" y="72">%s</text>`+"\n", lx+16, esc(ToolLabel(tool)))
		lx += 24 + 7*float64(len(ToolLabel(tool)))
	}
	p(`<line x1="%.0f" y1="68" x2="%.0f" y2="68" stroke="%s" stroke-width="2" stroke-dasharray="5,3"/>`, lx, lx+20, ceilingColor)
	p(`<text x="%.0f" y="72">loopback (ceiling)</text>`+"\n", lx+24)

	// Axis and decade grid lines.
	for v := lo; v <= hi*1.0001; v *= 10 {
		yy := y(v)
		p(`<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`, chartLeft, yy, width-chartRight, yy)
		p(`<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", chartLeft-6, yy+4, strconv.FormatFloat(v, 'g', 3, 64))
	}
	p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", chartLeft, chartTop, chartLeft, chartTop+chartHeight)
	p(`<text transform="translate(16 %.0f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", chartTop+chartHeight/2, unitGbps)

	for gi, g := range groups {
		x0 := chartLeft + groupPadding/2 + float64(gi)*groupWidth
		for ti, s := range g.series {
			x := x0 + float64(ti)*(barWidth+barGap)
			cx := x + barWidth/2
			if !g.present[ti] {
				continue
			}
			if !s.OK() {
				p(`<text transform="translate(%.1f %.1f) rotate(-90)" fill="#999">n/a</text>`+"\n", cx+4, chartTop+chartHeight-4)
				continue
			}
			med := s.Median()
			p(`<rect class="bar" data-tool="%s" data-value="%g" x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				esc(tools[ti]), med, x, y(med), barWidth, chartTop+chartHeight-y(med), toolColors[tools[ti]],
				esc(fmt.Sprintf("%s, %s MTU %d: %s [%s–%s] %s", ToolLabel(tools[ti]), g.path, g.mtu,
					FormatValue(med), FormatValue(s.Min()), FormatValue(s.Max()), unitGbps)))
			if len(s.Values) > 1 {
				p(`<path d="M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8" stroke="black" fill="none"/>`+"\n",
					cx, y(s.Min()), y(s.Max()), cx-4, y(s.Min()), cx-4, y(s.Max()))
			}
			top := math.Min(y(med), y(s.Max()))
			p(`<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10">%s</text>`+"\n", cx+4, top-3, esc(FormatValue(med)))
		}
		if g.ceiling.OK() {
			yy := y(g.ceiling.Median())
			p(`<line class="ceiling" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="5,3"/>`+"\n",
				x0-groupPadding/4, yy, x0+groupWidth-groupPadding*3/4, yy, ceilingColor)
		}
		cx := x0 + (groupWidth-groupPadding)/2
		p(`<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, cx, chartTop+chartHeight+16, esc(g.path))
		p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">MTU %d</text>`+"\n", cx, chartTop+chartHeight+30, g.mtu)
	}
	// Which binary each group of paths is.
	var pastaGroups, passtGroups int
	for _, g := range groups {
		if g.path == GuestToHost || g.path == HostToGuest {
			passtGroups++
		} else {
			pastaGroups++
		}
	}
	section := func(first, count int, label string) {
		if count == 0 {
			return
		}
		x1 := chartLeft + float64(first)*groupWidth + 4
		x2 := chartLeft + float64(first+count)*groupWidth - 4
		yy := chartTop + chartHeight + 46
		p(`<path d="M%.1f %.0fv6H%.1fv-6" stroke="#555" fill="none"/>`, x1, yy, x2)
		p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", (x1+x2)/2, yy+20, esc(label))
	}
	section(0, pastaGroups, "pasta (network namespace)")
	section(pastaGroups, passtGroups, "passt (shim guest on the UNIX socket)")
	p("</svg>\n")
	return b.Bytes()
}

// chartTools are the tools with at least one row for the protocol.
func (r *Results) chartTools(proto string) []string {
	var tools []string
	for _, tool := range ChartTools {
		for _, t := range r.Throughput {
			if t.Proto == proto && t.Tool == tool {
				tools = append(tools, tool)
				break
			}
		}
	}
	return tools
}

// axisRange is the decades that hold every value and ceiling.
func axisRange(groups []chartGroup) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	see := func(v float64) {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, g := range groups {
		for _, s := range g.series {
			for _, v := range s.Values {
				see(v)
			}
		}
		for _, v := range g.ceiling.Values {
			see(v)
		}
	}
	if hi == 0 {
		return 0.1, 100
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	lo = math.Max(lo, 1e-3)
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// plural is "1 run" or "3 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
