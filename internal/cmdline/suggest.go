package cmdline

import (
	"cmp"
	"slices"
	"strings"
)

// maxSuggestions is the most names Suggest returns.
const maxSuggestions = 3

// Suggest returns the names in known that the mistyped name most likely
// meant, best first, at most three; none when nothing is near.
//
// Case, underscores for dashes and a MOSAIC_ prefix (an environment
// variable's spelling) are forgiven outright. Otherwise the nearest names
// by edit distance (a swap of two neighbouring letters counts as one edit)
// are returned when they are within a third of name's length (at least 1,
// at most 3 edits); failing that, the names name begins (--max for
// --max-connections) or that begin it (--storage-dir for --storage).
func Suggest(name string, known []string) []string {
	n := normalize(name)
	if n == "" {
		return nil
	}
	for _, k := range known {
		if normalize(k) == n || normalize(k) == strings.TrimPrefix(n, "mosaic-") {
			return []string{k}
		}
	}
	limit := min(max(len(n)/3, 1), 3)
	best, near := limit+1, []string(nil)
	for _, k := range known {
		switch d := distance(n, normalize(k)); {
		case d < best:
			best, near = d, []string{k}
		case d == best:
			near = append(near, k)
		}
	}
	if near == nil && len(n) >= 2 {
		for _, k := range known {
			nk := normalize(k)
			if strings.HasPrefix(nk, n) || strings.HasPrefix(n, nk+"-") {
				near = append(near, k)
			}
		}
	}
	slices.SortStableFunc(near, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	return near[:min(len(near), maxSuggestions)]
}

func normalize(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimLeft(s, "-")), "_", "-")
}

// distance is the optimal string alignment distance between a and b: the
// fewest insertions, deletions, substitutions and swaps of two neighbouring
// bytes that turn a into b, no substring edited twice.
func distance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
