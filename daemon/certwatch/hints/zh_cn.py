"""简体中文 (Simplified Chinese): the remediation catalog, the text report and the alert rules.

Written for Expressway and CUCM engineers in the terms of Cisco doc 218018's Chinese edition (the article in
../shared/seed/): 证书, 自签名证书, 证书链, 根CA, 中间CA, 受信任, 信任库, CN或SAN名称, FQDN或IP. Cisco menu paths
and CLI commands stay as the English Expressway and CUCM interfaces print them; bug IDs and CVEs as they are.
Every template has the same keys and ``{placeholders}`` as :mod:`certwatch.hints.en` (a test checks it).
"""

from __future__ import annotations

from typing import Final

from certwatch.hints import Hint, Texts
from certwatch.model import Cause

TRUST_STORE: Final = "Maintenance > Security > Trusted CA certificate"
CUCM_CERTS: Final = "Cisco Unified OS Administration > Security > Certificate Management"
RESTART: Final = (
    "完成后重启每个Expressway-C节点（Maintenance > Restart options）：受信任CA列表的更改只有在重启后才会生效。"
)
WORKAROUND: Final = (
    "最后手段，仅限短期使用：在每个Expressway-C节点的CLI上运行"
    "`xConfiguration EdgeConfigServer VerifyOriginServer: Off`。该命令会关闭源服务器证书验证，"
    "重新暴露此验证所防范的中间人攻击风险（CSCwa25108 / CVE-2022-20814）；证书修复后请立即将其改回On。"
)
SAME_CN: Final = (
    "Expressway的信任库中不能存在两个CN相同的不同证书（思科文档218018中为思科漏洞ID CSCwa12905，"
    "思科文档225476中为CSCwa12894）：如果tomcat和CallManager（或其ECDSA变体）是使用同一CN的自签名证书，"
    "请改为CA签名证书，或让两者重复使用同一个多SAN证书（CUCM 14及更高版本）。"
)
ECDSA: Final = (
    "从X14.2开始，Expressway-C优先使用ECDSA，因此CUCM/IM&P现在可能提供其tomcat-ECDSA（或CallManager-ECDSA）"
    "证书（默认是自签名证书），而不是CA签名的RSA证书。如需恢复RSA优先，请在每个Expressway-C节点的"
    "Maintenance > Security > Ciphers（xConfiguration Ciphers）中为密码字符串添加前缀"
    "`ECDHE-RSA-AES256-GCM-SHA384:`。"
)

_LEAF_CERTS: Final = (
    "CUCM和IM&P的8443、6971和6972端口使用tomcat / tomcat-ECDSA，SIP使用CallManager / CallManager-ECDSA，"
    "IM&P XMPP使用cup-xmpp，Unity Connection使用tomcat"
)

HINTS: Final[dict[Cause, Hint]] = {
    Cause.UNTRUSTED_SELF_SIGNED: Hint(
        "信任源服务器的自签名证书，或改为CA签名证书",
        (
            "{origin}（{port}）提供的是自签名证书（深度0），Expressway-C不信任该证书。",
            ECDSA,
            "首选解决方案：在{origin}上为该证书申请CA签名：" + CUCM_CERTS + "（" + _LEAF_CERTS + "），"
            "然后重启提供该证书的服务（Cisco Tomcat；6971/6972端口为HAProxy/TFTP），"
            "并将签名CA（根CA和中间CA）上传到每个Expressway-C节点的" + TRUST_STORE + "。",
            "或者将{origin}的自签名证书本身上传到每个Expressway-C节点的" + TRUST_STORE + "。" + SAME_CN,
            RESTART,
        ),
    ),
    Cause.UNTRUSTED_CHAIN: Hint(
        "将源服务器的根CA和中间CA上传到Expressway-C",
        (
            "{origin}（{port}）提供的是CA签名的证书，但Expressway-C无法建立其完整的证书链：{depth_text}",
            "将签署{origin}证书的根CA和所有中间CA上传到集群中每个Expressway-C节点的"
            + TRUST_STORE
            + "（思科文档218018）。",
            "如果{origin}只发送其自身的证书，还需让它发送完整的证书链：在"
            + CUCM_CERTS
            + "下连同证书链重新导入该证书。",
            RESTART,
        ),
    ),
    Cause.EXPIRED: Hint(
        "续订已过期的证书",
        (
            "{depth_text}",
            "在{origin}上续订该证书：" + CUCM_CERTS + " > 选择该证书（" + _LEAF_CERTS + "）> Regenerate，"
            "或者生成CSR并交由CA签名，然后上传证书并重启相应服务"
            "（视情况为Cisco Tomcat、Cisco CallManager、Cisco TFTP、HAProxy）。",
            "如果签发CA发生了变化，请将新的根CA和中间CA上传到每个Expressway-C节点的" + TRUST_STORE + "。",
            RESTART,
        ),
    ),
    Cause.NOT_YET_VALID: Hint(
        "修正时钟（NTP），或重新签发证书",
        (
            "{origin}（{port}）的证书尚未生效：要么某一方的时钟不正确，要么证书签发时的生效日期在未来。",
            (
                "检查每个Expressway-C节点（System > Time）和{origin}（在CUCM / IM&P / Unity Connection的CLI上运行"
                "`utils ntp status`）的NTP。"
            ),
            "如果时钟正确，请在" + CUCM_CERTS + "下重新签发有效期正确的证书。",
        ),
    ),
    Cause.NAME_MISMATCH: Hint(
        "确保证书的SAN包含Expressway-C所使用的地址",
        (
            "Expressway-C连接{origin}（{port}）时所用的FQDN或IP不在该服务器所提供证书的CN或SAN名称（主题备用名称）中。",
            "{ip_text}",
            "否则，请在{origin}上重新生成SAN中包含该FQDN的证书（一个多SAN的tomcat / CallManager证书"
            "即可涵盖集群的所有节点）：" + CUCM_CERTS + "。",
            (
                "在CUCM上更改服务器名称后，在Expressway-C上刷新Unified CM / IM&P / Unity Connection服务器："
                "Configuration > Unified Communications > Unified CM servers（以及IM and Presence Service nodes、"
                "Unity Connection servers）> Refresh servers。"
            ),
        ),
    ),
    Cause.WEAK_CRYPTO: Hint(
        "使用更强的密钥或摘要算法重新签发证书",
        (
            (
                "{origin}（{port}）的证书使用的密钥或签名摘要算法强度不足，Expressway-C不予接受"
                "（例如低于2048位的RSA，或SHA-1）。"
            ),
            "使用RSA 2048位及以上或ECDSA P-256及以上的密钥和SHA-256签名重新生成该证书，并交由CA重新签名："
            + CUCM_CERTS
            + "；如果强度不足的是CA证书（深度{depth}），请更换该CA。",
            RESTART,
        ),
    ),
    Cause.BAD_PURPOSE: Hint(
        "重新签发可用于TLS服务器身份验证的证书",
        (
            "{origin}（{port}）的证书不能用于TLS服务器身份验证（其扩展密钥用法中没有serverAuth）。",
            "请CA使用包含TLS Web Server Authentication的模板重新签署{origin}的证书（CallManager/tomcat还需包含"
            "Client Authentication，因为CUCM也将其用作客户端证书），然后在" + CUCM_CERTS + "下上传并重启相应服务。",
        ),
    ),
    Cause.REVOKED: Hint(
        "更换已被吊销的证书",
        (
            "{origin}（{port}）的证书（或其上级CA，深度{depth}）已被吊销。",
            "在{origin}的" + CUCM_CERTS + "下签发并安装新证书；如果被吊销的是CA，"
            "还需在每个Expressway-C节点的" + TRUST_STORE + "中更换该CA证书。",
            RESTART,
        ),
    ),
    Cause.PEER_REJECTED_CLIENT_CERT: Hint(
        "将Expressway-C的CA上传到CUCM的tomcat-trust和CallManager-trust",
        (
            (
                "{origin}（{port}）以TLS告警拒绝了Expressway-C自身的（客户端）证书：需要在{origin}一侧修复，"
                "而不是在Expressway的信任库中。CUCM在8443以外的端口（6971、6972……）上会要求客户端证书，"
                "即使在非安全模式下也是如此。"
            ),
            "将签署Expressway-C服务器证书的根CA和中间CA上传到{origin}（及其集群中其余节点）的tomcat-trust"
            "和CallManager-trust：" + CUCM_CERTS + " > Upload Certificate/Certificate chain。",
            "然后在这些节点上重启Cisco Tomcat、Cisco CallManager、Cisco TFTP和HAProxy（思科文档225746）。",
        ),
        expressway_side=False,
    ),
    Cause.HANDSHAKE_FAILURE: Hint(
        "使Expressway-C与源服务器的密码套件和证书类型保持一致",
        (
            (
                "与{origin}（{port}）的TLS握手在证书检查之前就已失败：双方没有共同支持的密码套件、曲线、"
                "签名算法或TLS版本。"
            ),
            (
                "对比Expressway-C的Maintenance > Security > Ciphers（xConfiguration Ciphers）与{origin}上的"
                "Cisco Unified OS Administration > Security > Cipher Management。X14.2更改了默认顺序（ECDSA优先）："
                "添加前缀`ECDHE-RSA-AES256-GCM-SHA384:`可恢复RSA优先。"
            ),
        ),
        expressway_side=False,
    ),
    Cause.OTHER_VERIFY_ERROR: Hint(
        "检查源服务器的证书链、名称和有效期",
        (
            "Expressway-C无法验证{origin}（{port}）的证书{error_text}。",
            (
                "如果日志中只有`SSL connection failed ... certificate verify failed`行，请在每个节点的"
                "Maintenance > Logging中包含WARNING级别的消息：WARNING行会给出确切原因。"
            ),
            "检查Expressway-C的" + TRUST_STORE + "中是否有{origin}的根CA和中间CA，证书是否在有效期内，"
            "以及其SAN是否包含Expressway-C所使用的FQDN。",
            RESTART,
        ),
    ),
}

REMEDIATION: Final[dict[str, str]] = {
    "port": "端口{port}",
    "port_unknown": "端口未知",
    "depth_unknown": "未知",
    "error_text": "（OpenSSL：{error}）",
    "expired_no_depth": "{origin}提供的证书或其证书链中的某个CA证书已过期（日志行未给出深度）。",
    "expired_ca": (
        "{origin}证书链中的一个CA证书（深度{depth}：中间CA或根CA）已过期：请续订或更换该CA证书，"
        "必要时重新签发由它签署的证书，并在Expressway-C和CUCM的信任库中更新该CA证书。"
    ),
    "expired_leaf": "{origin}提供的证书（深度0）已过期。",
    "issuer_no_depth": "其证书链中的某个CA（中间CA或根CA）不在Expressway-C的信任库中。",
    "issuer_ca": "深度{depth}处证书的颁发者（中间CA或根CA）不在Expressway-C的信任库中。",
    "issuer_leaf": "签发其证书的CA（深度0）不在Expressway-C的信任库中。",
    "origin_fqdn": (
        "Expressway-C以`{origin}`连接此节点：这个FQDN必须原样作为SAN条目出现在tomcat（及tomcat-ECDSA）"
        "和CallManager证书中。"
    ),
    "origin_ip": (
        "此节点以IP地址（{origin}）连接：CUCM以IP地址通告该节点。请在CUCM的System > Server中将其改为"
        "节点的FQDN（CUCM必须始终以FQDN定义，思科文档225476）。"
    ),
    "cluster_named": "集群{cluster}",
    "cluster_unnamed": "该集群",
    "node_separator": ", ",
    "cluster_wide": "全集群范围：{origin}在{where}的{count}个节点（{nodes}）上均失败，因此问题并非出在单个节点上。",
    "cluster_wide_expressway": "请在集群的每个节点上执行Expressway-C侧的步骤（思科文档218018）。",
    "workaround": WORKAROUND,
    "probe_fix_verified": (
        "已在源服务器上验证修复：{origin}（{port}）现在提供的证书可通过Expressway-C的验证；"
        "Expressway各节点仍需导入新的受信任CA列表并重启。"
    ),
}

REPORT: Final[dict[str, str]] = {
    "headline": (
        "certwatch analyze：在{nodes}上发现{findings}（{failing}个验证失败，{at_risk}个存在风险，"
        "{resolved}个已解决），共读取{lines}行日志"
    ),
    "finding.one": "{n}个问题",
    "finding.other": "{n}个问题",
    "node.one": "{n}个节点",
    "node.other": "{n}个节点",
    "no_findings": "未发现证书验证失败。",
    "cluster": "== 集群 {cluster} ==",
    "origin_ip": "{origin} ({ip})",
    "cluster_wide": "{origin}：全集群范围，在{nodes}上均验证失败",
    "on_node": "{origin}：在{node}上",
    "node_separator": ", ",
    "enforced": "强制验证",
    "at_risk": "存在风险（宽松模式：尚未强制验证）",
    "cause": "[{mode}] {cause}",
    "cause_error": "[{mode}] {cause}：{error}",
    "cause_error_depth": "[{mode}] {cause}：{error}（深度{depth}）",
    "finding": "{node}，{port}：{status}，{failures}，{requests}（502），{first} .. {last}",
    "status.active": "进行中",
    "status.resolved": "已解决",
    "failure.one": "{n}次证书验证失败",
    "failure.other": "{n}次证书验证失败",
    "request.one": "{n}个请求失败",
    "request.other": "{n}个请求失败",
    "fix": "解决方法：{summary}",
    "evidence": "日志证据：",
    "stats": (
        "统计：{messages}条消息，{traffic_server}条traffic_server消息，{ignored}条已忽略，{unreadable}条无法解析，"
        "{uncorrelated}个未关联的502"
    ),
    "no_request_lines": (
        "注意：未收到{nodes}的请求/响应日志行：其远程syslog的严重性过滤级别未包含Debug，"
        "因此端口未知，502只能按时间关联。"
    ),
}

RULES: Final[dict[str, str]] = {
    "header": (
        "# certwatch的Prometheus规则（简体中文）。由`certwatch render-rules --lang zh-CN`根据指标约定\n"
        "# (daemon/certwatch/telemetry.py)和修复目录(daemon/certwatch/hints/zh_cn.py)生成：请勿手工编辑。\n"
        "# 重新生成：certwatch render-rules --lang zh-CN --output deploy/prometheus/certwatch-rules.zh-CN.yml\n"
    ),
    "incident.where": "Expressway-C节点{node}（集群{cluster}）无法验证{origin}（{port}）的TLS证书",
    "failing.summary": "从{node}发往{origin}（{port}）的MRA请求证书验证失败（{cause}）：{fix}",
    "failing.lead": (
        "{where}：{cause}。证书验证处于强制模式，因此发往该源服务器的MRA请求会失败，"
        "用户收到HTTP 502（Jabber登录、TFTP下载、语音邮件）。"
    ),
    "at_risk.summary": "{origin}（{port}）在{node}上证书验证失败（{cause}），存在风险：{fix}",
    "at_risk.lead": (
        "{where}：{cause}。证书验证处于宽松模式（Action=Continue），因此请求目前仍能成功；"
        "一旦强制验证，这些请求将以HTTP 502失败。"
    ),
    "incident.fix": "解决方法：{fix}。",
    "incident.details": "详细信息（OpenSSL错误、深度、日志证据）：在certwatch上GET /api/v1/incidents?node={node}。",
    "wide.summary": "{origin}在集群{cluster}的{count}个节点上证书验证失败（{cause}）：{fix}",
    "wide.cause": "原因{cause}，证书验证处于强制模式：经这些节点发往{origin}的MRA请求以HTTP 502失败。",
    "wide.fix": "解决方法：{fix}。各节点的{alert}告警中列出了具体步骤。",
    "predicts.summary": "对{origin}（{port}）的探测预测证书验证将会失败（{cause}）：{fix}",
    "predicts.lead": (
        "certwatch按Expressway-C的连接方式探测了{origin}（{port}），并用提供给它的Expressway-C受信任CA列表进行验证："
        "证书验证失败（{cause}）。在强制证书验证的Expressway-C上，发往该源服务器的MRA请求将以HTTP 502失败"
        "（Jabber登录、TFTP下载、语音邮件）：请在出现502之前修复。"
    ),
    "predicts.details": (
        "详细信息（OpenSSL错误、深度、源服务器提供的证书、X14.2陷阱）：`certwatch probe --ca-file FILE {target}`，"
        "其中FILE为Expressway-C的受信任CA列表"
        "（Maintenance > Security > Trusted CA certificate > Show all (PEM file)）。"
    ),
    "expires.leaf": "{key_type}证书",
    "expires.ca": "深度{depth}处的{key_type} CA证书",
    "expires.in": "将在{duration}后过期",
    "expires.expired": "已过期",
    "expires.summary": "{origin}（{port}）的{certificate}{when}",
    "expires.description": (
        "{origin}（{port}）向Expressway-C提供的{certificate}{when}。Expressway-C会拒绝已过期的证书（原因expired）："
        "届时发往该源服务器的MRA请求将以HTTP 502失败（Jabber登录、TFTP下载、语音邮件）。{fix}"
    ),
    "expires.fix_leaf": (
        "请在此之前在{origin}上续订该证书：Cisco Unified OS Administration > Security > Certificate Management > "
        "选择该证书 > Regenerate，或生成CSR交由CA签名后上传；然后重启提供该证书的服务"
        "（Cisco Tomcat；6971/6972为HAProxy/TFTP）。"
    ),
    "expires.fix_ca": (
        "请在此之前向其CA续订该CA证书，必要时重新签发由它签署的证书，并将新的CA证书上传到每个Expressway-C节点的"
        "Maintenance > Security > Trusted CA certificate（以及CUCM的信任库）；完成后重启这些节点"
        "（Maintenance > Restart options）：受信任CA列表的更改只有在重启后才会生效。"
    ),
    "fix_verified.summary": "{origin}（{port}）上的修复已通过探测验证，但相关故障仍未解决",
    "fix_verified.description": (
        "certwatch对{origin}（{port}）的探测现在已能通过提供给它的Expressway-C受信任CA列表的验证，"
        "但该源服务器和端口的故障在{nodes}上仍未解决：源服务器上的修复已经生效。如果这些节点仍然失败，"
        "说明它们还需要新的受信任CA列表并重启：将CA证书上传到每个节点的Maintenance > Security > Trusted CA "
        "certificate，然后重启该节点（Maintenance > Restart options）。故障会在经该节点的下一个请求成功时解决，"
        "或在其最后一次失败15分钟后解决。"
    ),
    "peer": "Expressway节点{node}（集群{cluster}）",
    "never_heard.summary": "{peer}从未向certwatch发送过syslog",
    "never_heard.description": (
        "{peer}已列在certwatch配置的clusters:下，但自启动以来没有任何certwatch实例收到过它的消息，"
        "因此它的MRA故障无法被发现。请在该节点的{logging}中添加每一台certwatch主机。"
        "检查其syslog报头中的主机名是否与clusters:下的名称一致，并检查监听器的allowed_senders以及沿途的防火墙。"
    ),
    "silent.summary": "{peer}已停止发送syslog",
    "silent.description": (
        "在nodes.silence_after（默认10m）内没有任何certwatch实例收到{peer}的消息，因此它的MRA故障无法被发现。"
        "检查该节点是否正常运行、{logging}中是否仍列有certwatch主机，以及两者之间的网络。"
    ),
    "some_instances.summary": "{peer}只能到达部分certwatch实例",
    "some_instances.description": (
        "有certwatch实例收到了{peer}的消息，但{instances}上没有：其syslog已失去高可用性。"
        "该节点的{logging}中必须列出两台certwatch主机；检查那台主机的监听器、allowed_senders和防火墙。"
    ),
    "no_request_lines.summary": "{peer}未发送请求日志行（未启用Debug）",
    "no_request_lines.description": (
        "certwatch收到了{peer}的syslog，但没有traffic_server请求/响应日志行：其远程syslog过滤级别未包含Debug，"
        "因此端口未知，502只能按时间与故障关联。如需端口、按请求归因502以及自动解决，"
        "请在该节点上将发往certwatch服务器的严重性过滤级别设为Debug（{logging}）。"
    ),
    "down.summary": "没有任何certwatch实例在运行",
    "down.description": (
        "作业{job}没有任何目标处于up状态（或没有被抓取）：Expressway MRA证书故障将无法被发现。"
        "检查两台主机上的certwatch服务（其JSON日志输出到标准错误）以及Prometheus的抓取配置。"
    ),
    "instance_down.summary": "一个certwatch实例已停止；另一个仍在告警",
    "instance_down.description": (
        "作业{job}中有{value}个certwatch实例未处于up状态：{instances}。另一个实例收到相同的syslog，"
        "因此仍能发现故障，但已失去高可用性：请重启该实例（其输出到标准错误的JSON日志说明了停止原因）。"
    ),
    "reload_failed.summary": "certwatch拒绝了其配置",
    "reload_failed.description": (
        "{instances}上最近一次加载配置失败：之前的配置继续生效。其日志列出了所有问题；"
        "修正该文件（可用`certwatch check-config FILE`验证）后再次发送SIGHUP。"
    ),
    "dropped.summary": "certwatch正在丢弃syslog消息（{reason}）",
    "dropped.description": (
        "10分钟内在{instances}上丢弃了{value}条消息（{reason}）：{advice}。被丢弃的消息可能掩盖故障。"
    ),
    "dropped.queue_full": "处理引擎跟不上，接收队列已满：检查主机的CPU和ingress.queue_batches",
    "dropped.sender_refused": "来自allowed_senders以外地址的数据报：添加该节点，或查明未知的发送方",
    "dropped.truncated_frame": "TCP/TLS连接在octet-counting帧中途关闭：检查发送方或中继",
    "dropped.other": "已接收，但在关闭期限（daemon.shutdown_timeout）之前未能处理",
    "kernel_drops.summary": "内核在{listener}上丢弃了发往certwatch的syslog数据报",
    "kernel_drops.description": (
        "10分钟内内核在UDP监听器{listener}上丢弃了{value}个数据报：certwatch读取不够快，或接收缓冲区太小。"
        "请调大listeners[].receive_buffer_bytes（以及net.core.rmem_max），或改用TCP或TLS发送，"
        "它们以背压代替丢弃。"
    ),
    "parse_failures.summary": "certwatch无法解析{share}的消息（{reason}）",
    "parse_failures.description": (
        "收到的消息中有{share}无法解析（{reason}）。not_syslog：某个发送方发送的不是syslog"
        "（Message Format设置或端口错误）；bad_timestamp：时间戳无法识别；orphan_continuation和truncated_*："
        "日志行被截断（UDP数据报大小、input.max_message_bytes、中继）。未能读取的日志行可能掩盖故障。"
    ),
    "series_limit.summary": "{metric}的certwatch时间序列超出metrics.max_series",
    "series_limit.description": (
        "由于已达到metrics.max_series，{metric}的新标签集被计入__overflow__序列：这些故障不会产生"
        "按源服务器的告警。请调大metrics.max_series，或查明是什么产生了如此多的源服务器、端口或节点。"
    ),
}

PROBE: Final[dict[str, str]] = {
    "trap.step": (
        "X14.2 ECDSA陷阱：{origin}（{port}）提供两个证书。X14.2优先使用ECDSA，因此Expressway-C得到的是"
        "{what}（{fingerprint}...），证书验证失败（{cause}）；而仅提供RSA密码套件时得到的是能通过验证的RSA证书："
        "该源服务器在X14.2之前的Expressway上工作正常，升级后才出现故障。解决方法二选一：修复{origin}上的"
        "ECDSA证书（tomcat-ECDSA或CallManager-ECDSA{default}），将其改为CA签名证书并把签发CA上传到Expressway-C；"
        "或者让Expressway-C重新优先使用RSA：在每个节点的Maintenance > Security > Ciphers"
        "（xConfiguration Ciphers）中为密码字符串添加前缀`{prefix}`。"
    ),
    "trap.what": "一个ECDSA证书",
    "trap.what_self_signed": "一个自签名的ECDSA证书",
    "trap.default_self_signed": "，默认是自签名证书",
    "trap.summary": "X14.2 ECDSA陷阱：{summary}",
    "where": "{address}的端口{port}",
    "connect.summary": "无法连接到源服务器（{kind}）",
    "connect.refused": (
        "{where}上没有服务接受连接：请检查{origin}上的服务是否在运行（8443为Cisco Tomcat，6971/6972为HAProxy），"
        "以及是否有防火墙拒绝Expressway-C的连接。"
    ),
    "connect.timeout": (
        "在超时时间内{where}没有应答：可能是防火墙丢弃了流量、地址错误，或者服务接受了连接却始终不开始TLS握手。"
    ),
    "connect.dns": (
        "无法解析{origin}：Expressway-C会解析CUCM通告的名称（System > Server），因此这些名称必须能在DNS中解析"
        "（Expressway-C上的System > DNS）。"
    ),
    "connect.reset": "{where}在握手过程中关闭了连接：该服务或中间设备拒绝来自此地址的TLS连接。",
    "connect.unreachable": "没有到{where}的路由：请检查地址以及Expressway-C与{origin}之间的路由。",
    "tls.summary": "源服务器未完成TLS握手",
    "tls.step": (
        "{where}没有以TLS服务器的身份应答（{error}）：请检查端口{port}是否为Expressway-C所代理服务的HTTPS端口。"
    ),
    "headline": "certwatch probe：{origins}：{ok}个正常，{failing}个失败，{unreachable}个无法连接",
    "origin.one": "{n}个源服务器",
    "origin.other": "{n}个源服务器",
    "result": "{origin}:{port}{address}：{status}",
    "address": " ({address})",
    "status.ok": "正常",
    "status.error": "失败 {error}",
    "status.cause": "失败 {cause}：{error}",
    "status.cause_depth": "失败 {cause}：{error}（深度{depth}）",
    "chain": "发送的证书链（{complete}）：",
    "chain.complete": "完整",
    "chain.incomplete": "不完整",
    "chain.unknown": "未知",
    "issuer": "颁发者 {issuer}",
    "issuer_self_signed": "颁发者 {issuer}（自签名）",
    "sans": "SAN {sans}",
    "sans.none": "（无）",
    "key": "{key_type} {key_bits}，{signature_algorithm}，有效期 {not_before} .. {not_after}",
    "sha256": "SHA-256 {sha256}",
    "offers": "各握手提议（每种密码套件提议得到的证书）：",
    "offer.refused": "被拒绝",
    "verdict.ok": "正常",
    "verdict.failed": "失败",
    "verdict.depth": "{verdict}（深度{depth}）",
    "fix": "解决方法：{summary}",
}

TEXTS: Final = Texts("zh-CN", HINTS, REMEDIATION, REPORT, RULES, PROBE)
