# Host tests of the benchmark pieces: histogram, RNG, bench= parser.
HOST_TESTS += $(BUILD)/host/test_bench

$(BUILD)/host/test_bench: $(BUILD)/host/tests/host/test_bench.o $(BUILD)/host/kernel/jobs/hist.o \
		$(BUILD)/host/kernel/jobs/bench_spec.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^ -lm
