/*  notify_channel_email: the e-mail channel, for notify_channel.c only
    (the public interface is notify_channel.h).  */
#ifndef NOTIFY_CHANNEL_EMAIL_H_INCLUDED
#define NOTIFY_CHANNEL_EMAIL_H_INCLUDED

#include "notify_channel.h"

#include <curl/curl.h>

//  Send msg as one e-mail over SMTP on curl (the channel's handle, so a
//  connection to the server is reused). NOTIFY_REFUSED without an
//  address or when the server answers 5xx; NOTIFY_RETRY when it cannot
//  be reached, times out or answers 4xx. err says which.
notify_outcome_t notify_channel_email (CURL *curl, const notify_channels_config_t *cfg,
                                       const notify_msg_t *msg, char *err, size_t errlen);

#endif
