/* kernel/jobs.c: what a boot does once the machine is up, chosen by the command line. */
#ifndef KERNEL_JOBS_H
#define KERNEL_JOBS_H
/* Runs the jobs the command line asks for (or the default job); returns the exit status. */
int jobs_run(void);
#endif
