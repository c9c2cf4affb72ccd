# Host unit tests of the kernel's library code (issue 2): printf formatting,
# the command line, the page-frame and small-object allocators, multiboot2
# parsing. Each binary links the kernel file it tests, built for the host
# with -DQUILL_HOST by the top-level pattern rule.
HOST_TESTS += $(BUILD)/host/test_printf $(BUILD)/host/test_cmdline \
	$(BUILD)/host/test_alloc $(BUILD)/host/test_alloc_debug $(BUILD)/host/test_mb2

$(BUILD)/host/test_printf: $(BUILD)/host/tests/host/test_printf.o $(BUILD)/host/kernel/printf.o
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

$(BUILD)/host/test_cmdline: $(BUILD)/host/tests/host/test_cmdline.o $(BUILD)/host/kernel/cmdline.o
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

$(BUILD)/host/test_alloc: $(BUILD)/host/tests/host/test_alloc.o \
		$(BUILD)/host/kernel/frames.o $(BUILD)/host/kernel/kmalloc.o
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

# The same tests against a DEBUG=1 kmalloc, which poisons freed blocks.
KERNEL_MK_DEBUG_OBJS := $(BUILD)/host-debug/tests/host/test_alloc.o $(BUILD)/host-debug/kernel/kmalloc.o
$(KERNEL_MK_DEBUG_OBJS): $(BUILD)/host-debug/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $< (QUILL_DEBUG)")
	$(Q)$(HOSTCC) $(HOST_CFLAGS) -DQUILL_DEBUG -c $< -o $@

$(BUILD)/host/test_alloc_debug: $(KERNEL_MK_DEBUG_OBJS) $(BUILD)/host/kernel/frames.o
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

$(BUILD)/host/test_mb2: $(BUILD)/host/tests/host/test_mb2.o $(BUILD)/host/kernel/mb2.o
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^
