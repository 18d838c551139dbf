# VM placement in cgroups (include/numaksm/cgroup.h): the v1 and v2 backends
# through libcgroup, the state kept for --undo, the all-or-nothing steps.
list(APPEND NUMAKSM_SOURCES policy/cgroup-backend.c policy/cgroup-state.c policy/cgroup.c
     policy/cgroup-place.c)
