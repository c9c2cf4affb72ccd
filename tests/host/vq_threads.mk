# The virtqueue driver against a simulated device on its own thread (the
# ring code as every host test builds it; the device thread needs -pthread).
HOST_TESTS += $(BUILD)/host/test_vq_threads

$(BUILD)/host/tests/host/test_vq_threads.o: HOST_CFLAGS += -pthread

$(BUILD)/host/test_vq_threads: $(BUILD)/host/tests/host/test_vq_threads.o \
		$(BUILD)/host/drivers/virtio/virtq.o $(BUILD)/host/drivers/virtio/virtq_packed.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -pthread -o $@ $^
