package alexa

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"hubd/hub"
)

// Routes as the simulator counts them (alexatest.Server.Counts).
const (
	routeListUnits    = "GET /v2/units"
	routeGetUnit      = "GET /v2/units/{id}"
	routeCreateUnit   = "POST /v2/units"
	routeEnable       = "POST /v1/skills/{skill}/enablements"
	routeStartSession = "POST /v1/discoverySessions"
	routePollSession  = "GET /v1/discoverySessions/{id}"
	routeListComms    = "GET /enterprise/residential/v1/homeCommunities"
	routeCreateComm   = "POST /enterprise/residential/v1/homeCommunities"
	routeCreateHome   = "POST /enterprise/residential/v1/homes"
)

// firstSyncMinimum returns, by route, the fewest API calls a first sync of
// site into an empty organization can make while doing the whole job, worked
// out from the documents and the site alone (not from the product's plan):
//
//   - one page of GET /v2/units?parentId=org&queryDepth=all: the org is
//     empty, and an empty list is one page (units doc lines 257-258);
//   - GET /v2/units/{org} once, when the site has units to place: an empty
//     list shows no child whose level tells the parent's, and that level
//     decides the subscription skill and the depth limit (units doc line 4,
//     REFERENCE.md section 2);
//   - POST /v1/skills/{id}/enablements once per building synced as a unit
//     with children, under the organization: a property needs the skill
//     before its children (REFERENCE.md section 2);
//   - POST /v2/units once per node synced as a unit; with residential, POST
//     homeCommunities once per building holding a home and POST homes once
//     per home; nodes between them are structure only;
//   - with residential, one page of GET homeCommunities (the org has none);
//     no GET homes, since no community exists yet;
//   - POST /v1/discoverySessions once per unit or home with devices, and
//     GET /v1/discoverySessions/{id} polls+1 times each: the simulator
//     answers IN_PROGRESS polls times, then the final status, and the product
//     polls until the status changes (REFERENCE.md section 2).
//
// The token call (one grant, an access token lives an hour) is counted
// apart by the simulator and is not in this map.
func firstSyncMinimum(site *hub.Site, residential bool, polls int) map[string]int {
	want := map[string]int{routeListUnits: 1}
	units := 0
	discover := func(n *hub.Node) bool { return len(n.Devices) > 0 }
	var walkUnits func(n *hub.Node)
	walkUnits = func(n *hub.Node) {
		units++
		if discover(n) {
			want[routeStartSession]++
		}
		for _, c := range n.Children {
			walkUnits(c)
		}
	}
	var homeDevices func(n *hub.Node) bool
	homeDevices = func(n *hub.Node) bool {
		return discover(n) || slices.ContainsFunc(n.Children, homeDevices)
	}
	var walkCommunity func(n *hub.Node)
	walkCommunity = func(n *hub.Node) {
		if n.Kind == hub.NodeHome {
			want[routeCreateHome]++
			if homeDevices(n) {
				want[routeStartSession]++
			}
			return
		}
		for _, c := range n.Children {
			walkCommunity(c)
		}
	}
	for _, b := range site.Buildings {
		if residential && hasHomeNode(b) {
			want[routeCreateComm]++
			for _, c := range b.Children {
				walkCommunity(c)
			}
			continue
		}
		walkUnits(b)
		if len(b.Children) > 0 {
			want[routeEnable]++
		}
	}
	if units > 0 {
		want[routeCreateUnit] = units
		want[routeGetUnit] = 1
	}
	if residential {
		want[routeListComms] = 1
	}
	if n := want[routeStartSession]; n > 0 {
		want[routePollSession] = n * (polls + 1)
	}
	return want
}

func hasHomeNode(n *hub.Node) bool {
	return n.Kind == hub.NodeHome || slices.ContainsFunc(n.Children, hasHomeNode)
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// countsDiff lists the routes whose counts differ, "route got/want" each.
func countsDiff(got, want map[string]int) string {
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	var out []string
	for _, k := range keys {
		if got[k] != want[k] {
			out = append(out, fmt.Sprintf("%s %d/%d", k, got[k], want[k]))
		}
	}
	return strings.Join(out, ", ")
}

// countsLine renders counts by route, "route=n" sorted.
func countsLine(m map[string]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(out, " ")
}
