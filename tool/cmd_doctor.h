/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_doctor.h: mkio-orgs doctor (tool/cmd_doctor.c). */
#ifndef MKIO_TOOL_CMD_DOCTOR_H
#define MKIO_TOOL_CMD_DOCTOR_H

struct tool;

/* doctor, its arguments from "doctor" on; the exit code (tool/util.h). */
int cmd_doctor(struct tool *t, int argc, char **argv);

#endif
