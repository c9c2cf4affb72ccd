# TCG plugin counting guest instructions between marks (tools/insncount.c): make bench's
# instructions-per-I/O figure.
HOST_TOOLS += $(BUILD)/tools/insncount.so

$(BUILD)/tools/insncount.so: tools/insncount.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(HOSTCC) -std=gnu11 -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -o $@ $<
