# Host checker of the LBA-stamped block test pattern (drivers/blk/blkpattern.h).
HOST_TOOLS += $(BUILD)/tools/blkpattern

$(BUILD)/tools/blkpattern: $(BUILD)/tool/tools/blkpattern.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) -o $@ $^
