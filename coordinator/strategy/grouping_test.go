package strategy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseGroupBy(t *testing.T) {
	good := map[string]GroupBy{
		"":           {Kind: GroupBySubnet, Bits: 24},
		"subnet:24":  {Kind: GroupBySubnet, Bits: 24},
		"subnet:0":   {Kind: GroupBySubnet, Bits: 0},
		"subnet:32":  {Kind: GroupBySubnet, Bits: 32},
		"subnet:64":  {Kind: GroupBySubnet, Bits: 64},
		"subnet:128": {Kind: GroupBySubnet, Bits: 128},
		"label:rack": {Kind: GroupByLabel, Label: "rack"},
		"label:a:b":  {Kind: GroupByLabel, Label: "a:b"},
	}
	for in, want := range good {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			got, err := ParseGroupBy(in)
			require.NoError(t, err)
			require.Equal(t, want, got)
			back, err := ParseGroupBy(got.String())
			require.NoError(t, err)
			require.Equal(t, got, back, "String gives back what parses to the same")
		})
	}
	bad := map[string]string{
		"subnet:129": "from 0 to 128",
		"subnet:-1":  "from 0 to 128",
		"subnet:":    "from 0 to 128",
		"subnet:+8":  "from 0 to 128",
		"subnet:x":   "from 0 to 128",
		"label:":     "label key",
		"label: a":   "label key",
		"subnet":     "want subnet:N",
		"zone:a":     "want subnet:N",
		"Subnet:24":  "want subnet:N",
	}
	for in, want := range bad {
		t.Run(fmt.Sprintf("bad %q", in), func(t *testing.T) {
			_, err := ParseGroupBy(in)
			require.ErrorContains(t, err, want)
			require.ErrorContains(t, err, fmt.Sprintf("%q", in), "the error names the value")
		})
	}
}

func node(id, addr string, labels ...string) Node {
	n := Node{ID: id, Addr: addr, Labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func TestFormGroupsBySubnet(t *testing.T) {
	cases := []struct {
		name  string
		by    string
		nodes []Node
		want  []Group
	}{
		{"ipv4 /24 boundary", "subnet:24",
			[]Node{node("n1", "10.0.1.255"), node("n2", "10.0.2.0"), node("n3", "10.0.1.0"), node("n10", "10.0.2.7")},
			[]Group{{"10.0.1.0/24", "n1", []string{"n3", "n1"}}, {"10.0.2.0/24", "n2", []string{"n10", "n2"}}}},
		{"ipv4 /25 splits what /24 joins", "subnet:25",
			[]Node{node("n1", "10.0.1.127"), node("n2", "10.0.1.128")},
			[]Group{{"10.0.1.0/25", "n1", []string{"n1"}}, {"10.0.1.128/25", "n2", []string{"n2"}}}},
		{"ipv4 /32 is one host a group", "subnet:32",
			[]Node{node("b", "192.168.0.2"), node("a", "192.168.0.1")},
			[]Group{{"192.168.0.1/32", "a", []string{"a"}}, {"192.168.0.2/32", "b", []string{"b"}}}},
		{"/0 is one group", "subnet:0",
			[]Node{node("n2", "1.2.3.4"), node("n1", "200.1.1.1")},
			[]Group{{"0.0.0.0/0", "n1", []string{"n2", "n1"}}}},
		{"groups ordered by address, not by name", "subnet:24",
			[]Node{node("a", "10.0.10.1"), node("b", "10.0.9.1"), node("c", "9.0.0.1")},
			[]Group{{"9.0.0.0/24", "c", []string{"c"}}, {"10.0.9.0/24", "b", []string{"b"}}, {"10.0.10.0/24", "a", []string{"a"}}}},
		{"ipv6 /64 boundary", "subnet:64",
			[]Node{node("n1", "2001:db8:0:1::5"), node("n2", "2001:db8:0:1:ffff:ffff:ffff:ffff"), node("n3", "2001:db8:0:2::1")},
			[]Group{{"2001:db8:0:1::/64", "n1", []string{"n2", "n1"}}, {"2001:db8:0:2::/64", "n3", []string{"n3"}}}},
		{"ipv6 in brackets and with a zone", "subnet:64",
			[]Node{node("n1", "[fe80::1]"), node("n2", "fe80::2%eth0")},
			[]Group{{"fe80::/64", "n1", []string{"n2", "n1"}}}},
		{"ipv6 /128", "subnet:128",
			[]Node{node("n1", "::1")},
			[]Group{{"::1/128", "n1", []string{"n1"}}}},
		{"ipv4 before ipv6; an ipv4-mapped address is ipv4", "subnet:24",
			[]Node{node("v6", "2001:db8::1"), node("v4", "::ffff:10.0.0.9"), node("w4", "10.0.0.1")},
			[]Group{{"10.0.0.0/24", "v4", []string{"w4", "v4"}}, {"2001:d00::/24", "v6", []string{"v6"}}}},
		{"a labelled group leader goes last", "subnet:24",
			[]Node{node("n1", "10.0.0.1"), node("n2", "10.0.0.2", GroupLeaderLabel, "true"), node("n3", "10.0.0.3")},
			[]Group{{"10.0.0.0/24", "n2", []string{"n1", "n3", "n2"}}}},
		{"several labelled: the lowest of them", "subnet:24",
			[]Node{node("n1", "10.0.0.1"), node("n10", "10.0.0.2", GroupLeaderLabel, "true"), node("n9", "10.0.0.3", GroupLeaderLabel, "true")},
			[]Group{{"10.0.0.0/24", "n9", []string{"n1", "n10", "n9"}}}},
		{"a label not exactly true names no leader", "subnet:24",
			[]Node{node("n1", "10.0.0.1"), node("n2", "10.0.0.2", GroupLeaderLabel, "yes")},
			[]Group{{"10.0.0.0/24", "n1", []string{"n2", "n1"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			by, err := ParseGroupBy(c.by)
			require.NoError(t, err)
			got, err := FormGroups(c.nodes, by)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestFormGroupsBySubnetRefusesWhatHasNoSubnet(t *testing.T) {
	cases := []struct {
		name, by string
		n        Node
		want     string
	}{
		{"a host name", "subnet:24", node("n1", "db1.example"), `member n1: its address "db1.example" is not an IP address, so it has no subnet: group by label:KEY instead`},
		{"no address", "subnet:24", node("n1", ""), `member n1: its address "" is not an IP address`},
		{"ipv4 longer than 32 bits", "subnet:33", node("n2", "10.0.0.1"), "member n2: its address 10.0.0.1 is IPv4, which has 32 bits, fewer than subnet:33"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			by, err := ParseGroupBy(c.by)
			require.NoError(t, err)
			_, err = FormGroups([]Node{node("ok", "2001:db8::1"), c.n}, by)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestFormGroupsByLabel(t *testing.T) {
	by, err := ParseGroupBy("label:rack")
	require.NoError(t, err)
	got, err := FormGroups([]Node{
		node("n1", "db1", "rack", "r10"), node("n2", "", "rack", "r9"), node("n3", "", "zone", "a"),
		node("n4", "", "rack", "r9", GroupLeaderLabel, "true"), node("n5", "", "rack", ""), node("n6", ""),
	}, by)
	require.NoError(t, err, "label grouping reads no address")
	require.Equal(t, []Group{
		{"", "n5", []string{"n5"}},
		{"r9", "n4", []string{"n2", "n4"}},
		{"r10", "n1", []string{"n1"}},
		{NoLabelGroup, "n3", []string{"n6", "n3"}},
	}, got, "natural order of values, an empty value is a value, members without the label last")
}
