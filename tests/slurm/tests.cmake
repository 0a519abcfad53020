# Slurm service tests: each test starts its own one-node Slurm (munge, slurmctld, slurmd on
# loopback, state under a temp dir), submits real sbatch jobs and stops the daemons again.
# They need the Debian packages slurmctld, slurmd, slurm-client, munge (scripts/setup.sh) and
# root (slurmd runs jobs as root here); missing pieces make them fail, never skip.
# RESOURCE_LOCK: one Slurm test at a time, each uses both cores.
function(simcsepp_add_slurm_test name script timeout)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/${script})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SIMCSEPP_TEST_ENV}" TIMEOUT ${timeout}
    RESOURCE_LOCK slurm PROCESSORS 2 LABELS slurm)
endfunction()

simcsepp_add_slurm_test(slurm.launchers_and_template_errors trivial_job_test.sh 180)
# Real training jobs (need `simcsepp prep` and `simcsepp train`): the CPU template trains a tiny
# BERT on 2 tasks and exports it; a second job gets the time-limit warning mid-run, checkpoints,
# requeues itself, resumes and must end with the same steps and weights as an uninterrupted job.
simcsepp_add_slurm_test(slurm.train_job train_job_test.sh 300)
simcsepp_add_slurm_test(slurm.preempt_requeue_resume preempt_requeue_test.sh 480)
# A warned 2-task job requeued (held), shrunk to 1 task and released: it resumes with the same
# global batch and reads the uninterrupted job's global batches (row ids) to the end.
simcsepp_add_slurm_test(slurm.requeue_fewer_tasks requeue_fewer_tasks_test.sh 600)
# Every signal target (job step, batch script, its process group; several signals at once) under
# srun and mpirun: exactly one checkpoint, exit 42, one requeue, resumed and finished.
simcsepp_add_slurm_test(slurm.preempt_signals preempt_signals_test.sh 900)
# The multi-node template on a two-node Slurm simulated with network namespaces (slurmctld on a
# login namespace, one slurmd per node namespace; tests/slurm/slurm_netns_cluster.sh): 2 nodes x
# 2 tasks via srun --mpi=pmix, topology per rank, training equal to 1 node x 4 ranks.
simcsepp_add_slurm_test(slurm.multinode_sbatch multinode_sbatch_test.sh 420)
set_property(TEST slurm.multinode_sbatch APPEND PROPERTY RESOURCE_LOCK multinode)
set_property(TEST slurm.multinode_sbatch APPEND PROPERTY LABELS multinode)
# The launcher's requeue cap (SIMCSEPP_MAX_REQUEUES) and the GPU templates through sbatch --test-only.
simcsepp_add_slurm_test(slurm.launcher_cap_and_templates launcher_cap_and_templates_test.sh 300)
# A rank lost mid-run under srun --mpi=pmix (killed, or exited with code 1): the step is cancelled
# at once by Slurm's PMIx plugin, long before the collective timeout; the job fails, not requeued.
simcsepp_add_slurm_test(slurm.lost_rank lost_rank_test.sh 300)
# A finished rank never cuts a busy one short: under srun --mpi=pmix a rank that has finalised
# waits in MPI_Finalize for the others, so the launcher's --wait grace period does not start.
simcsepp_add_slurm_test(slurm.finished_rank finished_rank_test.sh 300)
