package containerd

import (
	"context"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/skiffhq/skiff/runtime/container"
)

// Events streams what happens to skiff containers' tasks (start, exit,
// OOM kill, delete) until ctx ends or the stream breaks; then the channel
// closes. Exec'd processes are left out.
func (r *Runtime) Events(ctx context.Context) (<-chan container.Event, error) {
	ctx = r.ns(ctx)
	envs, errs := r.c.Subscribe(ctx, taskTopics("/tasks/start", "/tasks/exit", "/tasks/oom", "/tasks/delete")...)
	out := make(chan container.Event, 16)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil {
					r.log.Warn("container events broke", "err", err)
				}
				return
			case env := <-envs:
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					r.log.Warn("undecodable task event", "topic", env.Topic, "err", err)
					continue
				}
				e, ok := eventOf(ev)
				if !ok {
					continue
				}
				r.mu.Lock()
				e.PodUID = r.podUIDs[e.ContainerID]
				r.mu.Unlock()
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// taskTopics are the event filters for topics in skiff's namespace.
func taskTopics(topics ...string) []string {
	fs := make([]string, len(topics))
	for i, t := range topics {
		fs[i] = `namespace=="` + Namespace + `",topic=="` + t + `"`
	}
	return fs
}

// eventOf turns a containerd task event into a container event; false
// for events of exec'd processes and of other kinds.
func eventOf(ev any) (container.Event, bool) {
	switch e := ev.(type) {
	case *apievents.TaskStart:
		return container.Event{Type: container.EventStarted, ContainerID: e.ContainerID}, true
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return container.Event{}, false
		}
		return container.Event{Type: container.EventExited, ContainerID: e.ContainerID}, true
	case *apievents.TaskOOM:
		return container.Event{Type: container.EventOOM, ContainerID: e.ContainerID}, true
	case *apievents.TaskDelete:
		if e.ID != "" && e.ID != e.ContainerID {
			return container.Event{}, false
		}
		return container.Event{Type: container.EventDeleted, ContainerID: e.ContainerID}, true
	}
	return container.Event{}, false
}
