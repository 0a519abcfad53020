# The numerical tests again on a second CPU instruction set (included by tests/CMakeLists.txt).
#
# A tolerance that holds on the CPU where it was written can fail on another: the fp32 bound of
# the old data-parallel equivalence test held here and failed on an AMD EPYC (issue 20). On
# x86, libtorch's own kernels (ATEN_CPU_CAPABILITY), MKL (MKL_ENABLE_INSTRUCTIONS, MKL_CBWR for
# its code branch) and oneDNN (ONEDNN_MAX_CPU_ISA) choose their code path by instruction set;
# pinning all three to AVX2 runs the arithmetic a CPU without AVX-512 (such as that EPYC) runs,
# with other vector widths, blockings and reduction orders. So each CI run checks that the
# bounds of the exactness tests and the parity tests hold on two instruction sets, not one.
# (On a CPU without AVX-512 these repeat the default path; nothing is skipped.)
set(_isa_env
  "ATEN_CPU_CAPABILITY=avx2" "MKL_ENABLE_INSTRUCTIONS=AVX2" "MKL_CBWR=AVX2" "ONEDNN_MAX_CPU_ISA=AVX2")

foreach(_pair "cluster_equivalence_np3:test_cluster_equivalence" "train_step_equivalence_np3:test_trainer_equivalence")
  string(REPLACE ":" ";" _parts ${_pair})
  list(GET _parts 0 _name)
  list(GET _parts 1 _target)
  add_test(NAME numerics.avx2.${_name} COMMAND ${SIMCSEPP_MPIRUN} -np 3 $<TARGET_FILE:${_target}>)
  set_tests_properties(numerics.avx2.${_name} PROPERTIES
    ENVIRONMENT "${SIMCSEPP_TEST_ENV};${_isa_env};SIMCSEPP_COLLECTIVE_TIMEOUT_S=120" TIMEOUT 600 PROCESSORS 3
    LABELS numerics)
endforeach()

foreach(_script objective_encoder_parity model_hf_parity objective_parity)
  add_test(NAME numerics.avx2.${_script} COMMAND ${SIMCSEPP_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/${_script}.py)
  set_tests_properties(numerics.avx2.${_script} PROPERTIES
    ENVIRONMENT "${SIMCSEPP_TEST_ENV};${_isa_env}" TIMEOUT 1200 LABELS numerics)
endforeach()
