package scheduler

import "context"

// ImageLocality prefers nodes that already have the pod's images, so it
// starts without a pull. An image counts by its size times the share of
// nodes that have it, so that a node is not favoured for an image every
// node has (which would pile pods onto it).
type ImageLocality struct{}

var _ ScorePlugin = ImageLocality{}

// Name of the plugin.
func (ImageLocality) Name() string { return "ImageLocality" }

// The image-size window of the score, per container, as in Kubernetes:
// under the minimum scores 0, over the maximum 100.
const (
	imageMinThreshold = 23 * 1024 * 1024
	imageMaxThreshold = 1000 * 1024 * 1024
)

// Score needs the snapshot's image counts; New gives the plugin the
// scheduler's snapshot through the cycle state.
func (ImageLocality) Score(_ context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	if len(node.Images) == 0 {
		return 0, nil
	}
	snap, _ := state.Read(snapshotStateKey).(*Snapshot)
	total := 1
	var counts map[string]int
	if snap != nil {
		total = max(1, len(snap.list))
		counts = snap.imageNodes
	}
	var sum int64
	spec := &pod.Pod.Spec
	for i := range spec.Containers {
		img := normalizeImage(spec.Containers[i].Image)
		size, ok := node.Images[img]
		if !ok {
			continue
		}
		have := 1
		if counts != nil {
			have = max(1, counts[img])
		}
		sum += size * int64(have) / int64(total)
	}
	hi := int64(imageMaxThreshold) * int64(max(1, len(spec.Containers)))
	switch {
	case sum < imageMinThreshold:
		return 0, nil
	case sum > hi:
		return MaxNodeScore, nil
	}
	return MaxNodeScore * (sum - imageMinThreshold) / (hi - imageMinThreshold), nil
}

// snapshotStateKey holds the cycle's *Snapshot for plugins that need the
// whole cluster in Score.
const snapshotStateKey = "snapshot"
