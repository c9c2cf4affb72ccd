# Quill: one flat Makefile. `make` builds the kernel, the ISO and the host
# tools; `make run` is the main job; `make test` runs every test layer.
# Host test and tool fragments (tests/host/*.mk, tools/*.mk) only add to
# HOST_TESTS / HOST_TOOLS with explicit rules.

BUILD   := build
CC      ?= gcc
HOSTCC  ?= gcc
OBJDUMP ?= objdump
NM      ?= nm
V       ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

# ---- kernel --------------------------------------------------------------
KERNEL_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-builtin-printf -mno-red-zone \
	-fno-pic -fno-pie -static -nostdlib -mgeneral-regs-only \
	-fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -I. -DQUILL_KERNEL
ifeq ($(DEBUG),1)
KERNEL_CFLAGS += -DQUILL_DEBUG -O1
endif
KERNEL_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 \
	-Wl,-T,linker.ld -Wl,-Map,$(BUILD)/kernel.map

KERNEL_SRCS := $(sort $(wildcard arch/x86_64/*.S arch/x86_64/*.c kernel/*.c kernel/jobs/*.c \
	drivers/*.c drivers/*/*.c fs/*.c))
KERNEL_SRCS := $(filter-out $(KERNEL_EXCLUDE),$(KERNEL_SRCS))
KERNEL_OBJS := $(patsubst %,$(BUILD)/k/%.o,$(KERNEL_SRCS))

# ---- host ---------------------------------------------------------------
HOST_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unused-parameter \
	-MMD -MP -I. -DQUILL_HOST
HOST_LDFLAGS := -fsanitize=address,undefined
# Tools users run on images: optimised, no sanitizer runtime needed.
TOOL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -I. -DQUILL_HOST

HOST_TESTS :=
HOST_TOOLS :=
# The fragments below define rules; plain `make` must still mean `all`.
.DEFAULT_GOAL := all
include $(sort $(wildcard tests/host/*.mk tools/*.mk))

.PHONY: all build kernel iso tools host-tests deps run test debug clean bench crashtest
# Plain `make` checks the tools first (tools/deps.sh), then builds.
all: deps
	$(Q)$(MAKE) --no-print-directory build
build: kernel iso tools

deps:
	$(Q)tools/deps.sh

kernel: $(BUILD)/kernel.elf
iso: $(BUILD)/quill.iso
tools: $(HOST_TOOLS)
host-tests: $(HOST_TESTS)

$(BUILD)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(KERNEL_CFLAGS) -D__ASSEMBLY__ -c $< -o $@

$(BUILD)/kernel.elf: $(KERNEL_OBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) -lgcc
	$(Q)$(OBJDUMP) -d $@ > $(BUILD)/kernel.dis
	$(Q)$(NM) -n $@ > $(BUILD)/kernel.sym
	$(Q)tools/check-multiboot.sh $@

# The ISO's grub.cfg boots with an empty command line (the kernel's default
# job); tools/quill-run makes a per-run ISO when given --cmdline.
$(BUILD)/quill.iso: $(BUILD)/kernel.elf tools/mkiso.sh
	@$(if $(Q),echo "  ISO     $@")
	$(Q)tools/mkiso.sh $< $@ ""

$(BUILD)/host/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOSTCC) $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/tool/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOSTCC) $(TOOL_CFLAGS) -c $< -o $@

# ---- jobs -----------------------------------------------------------------
DISK ?=
ACCEL ?= tcg
export ACCEL

run: all
	$(Q)tools/quill-make-run "$(DISK)"

test: deps
	$(Q)$(MAKE) --no-print-directory build host-tests
	$(Q)python3 tests/run

# The long variants: the host crash test for CRASH_SECS, the long logged
# power cut in QEMU (tests/run --long).
crashtest: deps
	$(Q)$(MAKE) --no-print-directory build host-tests
	$(Q)python3 tests/run --long

bench: all
	$(Q)python3 tools/quill-bench

debug: all
	$(Q)tools/quill-debug

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
