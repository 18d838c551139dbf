# numaksm-vmm benchmark: KSM across NUMA nodes or per node, on a fleet of
# real VMs; needs /dev/kvm and two nodes, so it runs in the NUMA lab's kvm
# guest (benchmarks/fleet-in-lab).  Its own program (public API only).
add_executable(numaksm-bench-fleet bench-fleet.c)
target_link_libraries(numaksm-bench-fleet PRIVATE numaksm PkgConfig::JSONC PkgConfig::NUMA)
