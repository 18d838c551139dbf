# vcpu/: topology, planner, assignment state, applying plans to VMM threads.
list(APPEND NUMAKSM_SOURCES
     vcpu/topo.c
     vcpu/plan.c
     vcpu/state.c
     vcpu/apply.c)

