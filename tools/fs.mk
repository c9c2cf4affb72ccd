# quillfs host tools: mkfs.quillfs, fsck.quillfs, quillfs (ls/cat/stat/tree/df/put).
QFS_TOOL_SRCS := $(sort $(wildcard fs/*.c)) drivers/blk/blk.c tests/host/blkdev_file.c
QFS_TOOL_OBJS := $(patsubst %.c,$(BUILD)/tool/%.o,$(QFS_TOOL_SRCS))

$(BUILD)/tools/mkfs.quillfs $(BUILD)/tools/fsck.quillfs $(BUILD)/tools/quillfs: \
		$(BUILD)/tools/%: $(BUILD)/tool/tools/%.o $(QFS_TOOL_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) -o $@ $^

HOST_TOOLS += $(BUILD)/tools/mkfs.quillfs $(BUILD)/tools/fsck.quillfs $(BUILD)/tools/quillfs
