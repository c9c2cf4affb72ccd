# Host tests of the split virtqueue against a simulated (and hostile) device.
HOST_TESTS += $(BUILD)/host/test_virtq

$(BUILD)/host/test_virtq: $(BUILD)/host/tests/host/test_virtq.o \
		$(BUILD)/host/tests/host/simdev_virtq.o $(BUILD)/host/drivers/virtio/virtq.o \
		$(BUILD)/host/drivers/virtio/virtq_packed.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

# The virtio-blk driver, built as is, over a fake transport and a simulated
# device; tests/host/simdev_shim stands in for arch/x86_64/arch.h.
HOST_TESTS += $(BUILD)/host/test_vblk
VBLK_HOST_OBJS := $(BUILD)/host/simdev/drivers/blk/virtio_blk.o $(BUILD)/host/simdev/drivers/virtio/virtio.o

$(BUILD)/host/simdev/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $< (simdev)")
	$(Q)$(HOSTCC) -Itests/host/simdev_shim $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/host/test_vblk: $(BUILD)/host/tests/host/test_vblk.o $(BUILD)/host/tests/host/simdev_virtq.o \
		$(BUILD)/host/tests/host/simdev_packed.o \
		$(BUILD)/host/drivers/virtio/virtq.o $(BUILD)/host/drivers/virtio/virtq_packed.o \
		$(BUILD)/host/drivers/blk/blk.o $(VBLK_HOST_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

# Host tests of the packed virtqueue against a simulated (and hostile) device.
HOST_TESTS += $(BUILD)/host/test_vq_packed

$(BUILD)/host/test_vq_packed: $(BUILD)/host/tests/host/test_vq_packed.o \
		$(BUILD)/host/tests/host/simdev_packed.o $(BUILD)/host/drivers/virtio/virtq.o \
		$(BUILD)/host/drivers/virtio/virtq_packed.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^
