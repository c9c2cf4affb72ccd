# Host tests of the split virtqueue against a simulated (and hostile) device.
HOST_TESTS += $(BUILD)/host/test_virtq

$(BUILD)/host/test_virtq: $(BUILD)/host/tests/host/test_virtq.o \
		$(BUILD)/host/tests/host/simdev_virtq.o $(BUILD)/host/drivers/virtio/virtq.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^
